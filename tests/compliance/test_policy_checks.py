import datetime

import pytest
from django.utils import timezone

from compliance import services as stocktakes
from compliance.models import Discrepancy
from compliance.policy_checks import run_policy_checks
from core.models import AuditEvent, Organization
from credentials.accounts import account_unlock
from credentials.models import Rotation, SecretVersion
from credentials.rotation import rotation_fail, rotation_request
from credentials.targets import target_system_create
from terminals import services
from tests.credentials.helpers import rotated_account
from tests.factories import OrganizationFactory, make_terminal


@pytest.fixture
def target(db):
    return target_system_create(actor=None, code="cc", name="CC", connector="local")


@pytest.fixture
def clean(site, cabinet, security, target, django_capture_on_commit_callbacks):
    """A counted site and one terminal with a fresh locked account: nothing to find."""
    terminal = make_terminal(location=cabinet)
    rotated_account(target, terminal, django_capture_on_commit_callbacks)
    stocktake = stocktakes.stocktake_open(site=site, actor=security, reason="manual")
    stocktakes.scan_record(
        stocktake=stocktake, location=cabinet, tag=terminal.asset_tag, actor=security
    )
    stocktakes.stocktake_close(stocktake=stocktake, actor=security)
    return terminal


def kinds():
    return sorted(Discrepancy.objects.filter(status="open").values_list("kind", flat=True))


def test_clean_data_gives_no_finding(clean):
    assert run_policy_checks() == {}
    assert kinds() == []


def test_a_terminal_outside_a_secured_location_is_found_once_and_reopened_when_it_recurs(
    clean, open_room, security
):
    services.terminal_move(terminal=clean, actor=None, to_location=open_room)
    assert run_policy_checks() == {"outside_secured_location": 1}
    assert run_policy_checks() == {}  # no duplicate
    finding = Discrepancy.objects.get()
    stocktakes.discrepancy_resolve(
        discrepancy=finding, actor=security, outcome="fixed", note="moved back"
    )
    assert run_policy_checks() == {"outside_secured_location": 1}  # still there: reopened
    finding.refresh_from_db()
    assert finding.status == "open"
    assert AuditEvent.objects.filter(action="discrepancy.reopened").count() == 1


def _hand_to(terminal, custodian):
    services.terminal_update(
        terminal=terminal, actor=None, serial_number=terminal.serial_number,
        hostname=terminal.hostname, model_name=terminal.model_name, custodian=custodian,
        notes=terminal.notes,
    )  # fmt: skip


def test_a_terminal_kept_by_a_retail_company_in_the_operators_own_store_is_found(clean):
    """The first incident: the location is the operator's and secured, the terminal is not."""
    retail = OrganizationFactory(kind=Organization.Kind.RETAIL)
    assert clean.location.secured
    assert clean.location.custodian.kind == Organization.Kind.NETWORK_OPERATOR
    _hand_to(clean, retail)
    clean.refresh_from_db()
    assert "Not lent, but its custodian is not a network operator." in [
        str(w) for w in clean.storage_warnings()
    ]
    assert run_policy_checks() == {"custodian_not_operator": 1}
    finding = Discrepancy.objects.get()
    assert (finding.subject, finding.details["custodian"]) == (clean.asset_tag, retail.code)
    assert run_policy_checks() == {}  # no duplicate


def test_a_lent_terminal_of_another_custodian_is_not_found(clean):
    retail = OrganizationFactory(kind=Organization.Kind.RETAIL)
    _hand_to(clean, retail)
    Terminal = type(clean)
    Terminal.objects.filter(pk=clean.pk).update(status=Terminal.Status.LENT)
    assert "custodian_not_operator" not in run_policy_checks()


def test_an_unlocked_account_of_a_terminal_not_lent_is_found(clean):
    account_unlock(account=clean.accounts.get(), actor=None)
    assert run_policy_checks() == {"unlocked_not_lent": 1}


def test_an_account_of_a_retired_terminal_is_found(clean, monkeypatch):
    # the deletion task that follows a retirement did not run (broker lost the message)
    monkeypatch.setattr("credentials.accounts.enqueue", lambda *a: True)
    services.terminal_retire(terminal=clean, actor=None, reason="end of life")
    assert run_policy_checks() == {"retired_terminal_account": 1}


def test_an_old_secret_and_a_long_failed_rotation_are_found(clean, target):
    account = clean.accounts.get()
    old = timezone.now() - datetime.timedelta(days=target.max_secret_age_days + 1)
    SecretVersion.objects.filter(pk=account.current_version_id).update(became_current_at=old)
    assert run_policy_checks() == {"secret_too_old": 1}
    rotation = rotation_request(account=account, reason="forced", actor=None)
    rotation_fail(rotation_id=rotation.pk, error="unreachable")
    assert run_policy_checks() == {}  # failed, but not for a day yet
    Rotation.objects.filter(pk=rotation.pk).update(
        finished_at=timezone.now() - datetime.timedelta(days=2)
    )
    assert run_policy_checks() == {"rotation_failed_long": 1}


def test_a_site_without_a_recent_completed_stocktake_is_found(clean, site):
    later = timezone.now() + datetime.timedelta(days=site.stocktake_interval_days + 1)
    assert run_policy_checks(now=later) == {"secret_too_old": 1, "stocktake_overdue": 1}
