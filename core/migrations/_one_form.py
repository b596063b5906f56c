"""Shared by the migrations that put values people type in one form (core.0010 and 0011,
terminals.0007, credentials.0004). It is part of those migrations' history: never change what
it does; a later rule gets a function of its own. (Not a migration: the loader skips modules
whose names start with an underscore.)"""

import unicodedata


def lower_one_form(value: str) -> str:
    # core.identifiers.normalise_code as of these migrations.
    return unicodedata.normalize("NFKC", value).strip().lower()


def normalise_rows(app_label: str, model_name: str, field: str):
    """A RunPython step: rewrite every row's `field` in its one form. Two rows that would become
    one value stop it, named, before anything is changed, until a person renames one."""

    def run(apps, schema_editor):
        model = apps.get_model(app_label, model_name)
        seen: dict[str, str] = {}
        changes = []
        for pk, value in model.objects.order_by("pk").values_list("pk", field):
            normal = lower_one_form(value)
            if normal in seen:
                raise RuntimeError(
                    f"{model_name} {field}s {seen[normal]!r} and {value!r} are the same "
                    f"({normal}); rename one, then migrate again."
                )
            seen[normal] = value
            if normal != value:
                changes.append((pk, normal))
        for pk, normal in changes:
            model.objects.filter(pk=pk).update(**{field: normal})

    return run
