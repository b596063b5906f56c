"""What compliance keeps under a target system's code, after the codes took their one form
(credentials.0004): the subjects of the directory findings, so that the next policy check finds
its own open finding again instead of opening a second one; and the sign-ins' fingerprints (the
code and the line), so that a log file sent again after the upgrade is still stored once."""

import hashlib

from django.db import migrations

from core.migrations._one_form import lower_one_form


def _fingerprint(target_code, raw):
    # compliance.access_logs.parsers.fingerprint as of this migration: history must not move.
    return hashlib.sha256(f"{target_code}\n{raw}".encode()).hexdigest()


def subjects_in_one_form(apps, schema_editor):
    Discrepancy = apps.get_model("compliance", "Discrepancy")
    findings = Discrepancy.objects.filter(
        stocktake__isnull=True, kind__in=("directory_unchecked", "orphan_account")
    )
    for pk, kind, subject in findings.values_list("pk", "kind", "subject").iterator(2000):
        if kind == "directory_unchecked":
            prefix, _sep, code = subject.partition(":")
            normal = f"{prefix}:{lower_one_form(code)}"
        else:  # "<code>:<login id>"; a code has no colon
            code, _sep, login_id = subject.partition(":")
            normal = f"{lower_one_form(code)}:{login_id}"
        if normal != subject:
            Discrepancy.objects.filter(pk=pk).update(subject=normal)


def fingerprints_of_the_codes(apps, schema_editor):
    TargetSystem = apps.get_model("credentials", "TargetSystem")
    SignInEvent = apps.get_model("compliance", "SignInEvent")
    for target_id, code in TargetSystem.objects.values_list("pk", "code"):
        events = SignInEvent.objects.filter(target_system_id=target_id).order_by("pk")
        first = events.values_list("fingerprint", "raw_line").first()
        # One line tells whether the target's code changed form: all or none of its lines did.
        if first is None or first[0] == _fingerprint(code, first[1]):
            continue
        batch = []
        for event in events.only("pk", "raw_line").iterator(2000):
            event.fingerprint = _fingerprint(code, event.raw_line)
            batch.append(event)
            if len(batch) == 2000:
                SignInEvent.objects.bulk_update(batch, ["fingerprint"])
                batch = []
        SignInEvent.objects.bulk_update(batch, ["fingerprint"])


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0007_model_names"),
        ("credentials", "0004_target_code_normalised"),
    ]

    operations = [
        migrations.RunPython(subjects_in_one_form, migrations.RunPython.noop),
        migrations.RunPython(fingerprints_of_the_codes, migrations.RunPython.noop),
    ]
