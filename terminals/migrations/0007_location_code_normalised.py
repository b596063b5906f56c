"""Locations' codes in their one form (core.identifiers.normalise_code: trimmed, NFKC, lower
case): existing rows are rewritten, then the database refuses any other form. Two rows that were
the same code typed differently cannot both stay: the migration stops and names them, and nothing
is changed until a person renames one (rows refer to each other by key, so a rename is safe)."""

import core.fields
import django.db.models.functions.text
from django.db import migrations, models

from core.migrations._one_form import normalise_rows


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0010_organization_code_normalised'),
        ('terminals', '0006_terminal_addresses'),
    ]

    operations = [
        migrations.RunPython(
            normalise_rows("terminals", "Location", "code"), migrations.RunPython.noop
        ),
        migrations.AlterField(
            model_name='location',
            name='code',
            field=core.fields.CodeField(max_length=64, unique=True, verbose_name='code'),
        ),
        migrations.AddConstraint(
            model_name='location',
            constraint=models.CheckConstraint(condition=models.Q(('code', django.db.models.functions.text.Lower(django.db.models.functions.text.Trim('code')))), name='location_code_normalised'),
        ),
    ]
