"""Asset tags and card numbers in their one form (core.identifiers: trimmed, NFKC, upper case):
existing rows are rewritten, then the database refuses any other form. Two rows that were the
same identifier typed differently cannot both stay: the migration stops and names them, and
nothing is changed until a person merges or renames one."""

import unicodedata

import django.db.models.functions.text
from django.db import migrations, models


def _normalise(value):
    # A copy of core.identifiers.normalise_identifier as of this migration: history must not move.
    return unicodedata.normalize("NFKC", value).strip().upper()


def normalise_rows(apps, schema_editor):
    for model_name, field in (("Terminal", "asset_tag"), ("AccessCard", "card_number")):
        model = apps.get_model("terminals", model_name)
        seen = {}
        changes = []
        for pk, value in model.objects.values_list("pk", field):
            normal = _normalise(value)
            if normal in seen:
                raise RuntimeError(
                    f"{model_name} {seen[normal][1]!r} and {value!r} are the same {field} "
                    f"({normal}); rename or merge one, then migrate again."
                )
            seen[normal] = (pk, value)
            if normal != value:
                changes.append((pk, normal))
        for pk, normal in changes:
            model.objects.filter(pk=pk).update(**{field: normal})


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0001_initial'),
        ('terminals', '0003_stocktakes_move_to_compliance'),
    ]

    operations = [
        migrations.RunPython(normalise_rows, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='accesscard',
            constraint=models.CheckConstraint(condition=models.Q(('card_number', django.db.models.functions.text.Upper(django.db.models.functions.text.Trim('card_number')))), name='accesscard_number_normalised'),
        ),
        migrations.AddConstraint(
            model_name='terminal',
            constraint=models.CheckConstraint(condition=models.Q(('asset_tag', django.db.models.functions.text.Upper(django.db.models.functions.text.Trim('asset_tag')))), name='terminal_asset_tag_normalised'),
        ),
    ]
