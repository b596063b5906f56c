"""System-written reasons become phrases (core.phrases), read in each reader's language.

Existing rows hold the text in whichever language the acting person used; texts that match one of
the phrases in English or Japanese are turned into that phrase, anything else (a person's own
words) stays as it was. Audit events are not touched: they are sealed as written."""

import re

from django.db import migrations, models
from django.utils import translation

# code -> English msgid, as lending/phrases.py defined them when this migration was written.
WORDED = {
    "lending.reserved": "Hand-out for request #%(id)s",
    "lending.hand_out_failed": "Hand-out failed",
    "lending.lent": "Lent for request #%(id)s",
    "lending.settled": "Rotated and inspected",
}
CONDITIONS = {
    "ok": "OK",
    "damaged": "Damaged",
    "parts_missing": "Parts missing",
    "seal_broken": "Seal broken",
}
LIFTED = "The declaration was lifted."


def _pattern(text: str) -> re.Pattern:
    escaped = re.escape(text)
    return re.compile("^" + re.sub(r"%\\\(([a-z_]+)\\\)s", r"(?P<\1>.+?)", escaped) + "$")


def _readings() -> list[tuple[re.Pattern, str, dict]]:
    readings = []
    for language in ("en", "ja"):
        with translation.override(language):
            for code, msgid in WORDED.items():
                readings.append((_pattern(translation.gettext(msgid)), code, {}))
            for value, label in CONDITIONS.items():
                readings.append(
                    (_pattern(translation.gettext(label)), "lending.returned", {"condition": value})
                )
    return readings


def _as_phrase(text: str, readings) -> dict | None:
    for pattern, code, fixed in readings:
        match = pattern.match(text)
        if match:
            params = {**fixed, **match.groupdict()}
            if "id" in params:
                if not params["id"].isdigit():
                    continue
                params["id"] = int(params["id"])
            return {"phrase": code, "params": params}
    return None


def forwards(apps, schema_editor):
    Movement = apps.get_model("terminals", "Movement")
    AccessRequest = apps.get_model("lending", "AccessRequest")
    readings = _readings()
    for movement in Movement.objects.exclude(reason="").only("pk", "reason").iterator():
        phrase = _as_phrase(movement.reason, readings)
        if phrase:
            Movement.objects.filter(pk=movement.pk).update(reason="", reason_phrase=phrase)
    lifted = set()
    for language in ("en", "ja"):
        with translation.override(language):
            lifted.add(translation.gettext(LIFTED))
    AccessRequest.objects.filter(decision_reason__in=lifted).update(
        decision_reason="",
        decision_phrase={"phrase": "lending.declaration_lifted", "params": {}},
    )


class Migration(migrations.Migration):
    dependencies = [
        ("lending", "0002_oversee_lending"),
        ("terminals", "0005_system_phrases"),
    ]

    operations = [
        migrations.AddField(
            model_name="accessrequest",
            name="decision_phrase",
            field=models.JSONField(blank=True, null=True, verbose_name="reason (system)"),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
