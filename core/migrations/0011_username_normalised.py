"""Usernames in one form (core.identifiers.normalise_code: trimmed, NFKC, lower case): existing
rows are rewritten, then the database refuses any other form. Two people whose usernames differ
only in case or width cannot both stay: the migration stops and names them, and nothing is
changed until a person renames one."""

import core.fields
import django.contrib.auth.validators
import django.db.models.functions.text
from django.db import migrations, models

from core.migrations._one_form import normalise_rows


class Migration(migrations.Migration):

    dependencies = [
        ('auth', '0012_alter_user_first_name_max_length'),
        ('core', '0010_organization_code_normalised'),
    ]

    operations = [
        migrations.RunPython(
            normalise_rows("core", "User", "username"), migrations.RunPython.noop
        ),
        migrations.AlterField(
            model_name='user',
            name='username',
            field=core.fields.UsernameField(error_messages={'unique': 'A user with that username already exists.'}, help_text='Required. 150 characters or fewer. Letters, digits and @/./+/-/_ only.', max_length=150, unique=True, validators=[django.contrib.auth.validators.UnicodeUsernameValidator()], verbose_name='username'),
        ),
        migrations.AddConstraint(
            model_name='user',
            constraint=models.CheckConstraint(condition=models.Q(('username', django.db.models.functions.text.Lower(django.db.models.functions.text.Trim('username')))), name='user_username_normalised'),
        ),
    ]
