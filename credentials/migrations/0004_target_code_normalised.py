"""Target systems' codes in their one form (core.identifiers.normalise_code: trimmed, NFKC, lower
case): existing rows are rewritten, then the database refuses any other form. Two rows that were
the same code typed differently cannot both stay: the migration stops and names them, and nothing
is changed until a person renames one (rows refer to each other by key, so a rename is safe)."""

import unicodedata

import core.fields
import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models


def _normalise(value):
    # A copy of core.identifiers.normalise_code as of this migration: history must not move.
    return unicodedata.normalize("NFKC", value).strip().lower()


def normalise_codes(apps, schema_editor):
    model = apps.get_model("credentials", "TargetSystem")
    seen = {}
    changes = []
    for pk, code in model.objects.order_by("pk").values_list("pk", "code"):
        normal = _normalise(code)
        if normal in seen:
            raise RuntimeError(
                f"TargetSystem codes {seen[normal]!r} and {code!r} are the same code ({normal}); "
                "rename one, then migrate again."
            )
        seen[normal] = code
        if normal != code:
            changes.append((pk, normal))
    for pk, normal in changes:
        model.objects.filter(pk=pk).update(code=normal)


class Migration(migrations.Migration):

    dependencies = [
        ('credentials', '0003_rotation_claim'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(normalise_codes, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='targetsystem',
            name='code',
            field=core.fields.CodeField(max_length=32, unique=True, verbose_name='code'),
        ),
        migrations.AddConstraint(
            model_name='targetsystem',
            constraint=models.CheckConstraint(condition=models.Q(('code', django.db.models.functions.text.Lower(django.db.models.functions.text.Trim('code')))), name='target_code_normalised'),
        ),
    ]
