"""After the target codes took their one form (credentials.0004), what compliance keeps under a
code still matches it: an open directory finding is found again by the next policy check rather
than opened twice, and a log line sent again is still stored once."""

import hashlib

import pytest
from django.utils import timezone

from compliance.access_logs.parsers import fingerprint
from compliance.models import Discrepancy, SignInEvent
from tests.support.db import migrate_to

BEFORE = [("credentials", "0003_rotation_claim"), ("compliance", "0007_model_names")]
LINE = "2026-11-01T09:00:00+09:00,nwabc1,success,pc-1,10.0.0.1"


@pytest.mark.django_db(transaction=True)
def test_directory_findings_and_sign_in_fingerprints_follow_the_code_into_its_one_form():
    old = migrate_to(BEFORE)
    target = old.get_model("credentials", "TargetSystem").objects.create(
        code="LDAP-HQ", name="HQ", connector="local"
    )
    OldDiscrepancy = old.get_model("compliance", "Discrepancy")
    OldDiscrepancy.objects.create(kind="orphan_account", status="open", subject="LDAP-HQ:nwabc1")
    OldDiscrepancy.objects.create(
        kind="directory_unchecked", status="open", subject="directory:LDAP-HQ"
    )
    OldDiscrepancy.objects.create(kind="unlocked_on_directory", status="open", subject="account:7")
    ingestion = old.get_model("compliance", "AccessLogIngestion").objects.create(
        target_system=target, format="csv", source="upload", status="done"
    )
    old.get_model("compliance", "SignInEvent").objects.create(
        target_system=target,
        ingestion=ingestion,
        occurred_at=timezone.now(),
        login_id="nwabc1",
        result="success",
        line_number=1,
        raw_line=LINE,
        fingerprint=hashlib.sha256(f"LDAP-HQ\n{LINE}".encode()).hexdigest(),
    )

    migrate_to()

    assert sorted(Discrepancy.objects.values_list("subject", flat=True)) == [
        "account:7",
        "directory:ldap-hq",
        "ldap-hq:nwabc1",
    ]
    # What the parser computes for the same line now: the stored one, so it is a duplicate.
    assert SignInEvent.objects.get().fingerprint == fingerprint("ldap-hq", LINE)
