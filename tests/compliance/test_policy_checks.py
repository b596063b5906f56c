import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from compliance import services as stocktakes
from compliance.api.views import StockTakeSerializer
from compliance.models import Discrepancy, StockTake
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


def test_a_site_not_counted_within_the_interval_and_the_due_window_is_found(clean, site):
    window = datetime.timedelta(days=site.stocktake_interval_days + settings.STOCKTAKE_DUE_DAYS)
    later = timezone.now() + window + datetime.timedelta(days=1)
    assert run_policy_checks(now=later) == {"secret_too_old": 1, "stocktake_overdue": 1}


# Stock-take overdue, on the scheduler's clock: it opens stock-takes at 06:00, the policy checks
# run at 05:30 (config.settings' beat schedule).

TOKYO = ZoneInfo("Asia/Tokyo")
FIRST_OPENED = datetime.datetime(2026, 11, 1, 6, 0, tzinfo=TOKYO)


def at(moment, call, /, **kwargs):
    with time_machine.travel(moment, tick=False):
        return call(**kwargs)


def morning_check(day: datetime.datetime) -> datetime.datetime:
    """The first policy check after `day`: 05:30 the next morning."""
    return day.replace(hour=5, minute=30) + datetime.timedelta(days=1)


@pytest.fixture
def counted_once(site, security):
    """The site's first stock-take: opened by the scheduler and completed the same day."""
    (first,) = at(FIRST_OPENED, stocktakes.stocktakes_open_due)
    at(FIRST_OPENED.replace(hour=15), stocktakes.stocktake_close, stocktake=first, actor=security)
    assert StockTake.objects.get(pk=first.pk).status == "completed"
    return first


@pytest.fixture
def next_count(site, counted_once):
    """The next one, opened by the scheduler on the morning the interval ends, not counted yet."""
    opens = FIRST_OPENED + datetime.timedelta(days=site.stocktake_interval_days)
    (opened,) = at(opens, stocktakes.stocktakes_open_due)
    assert opened.due_at == opens + datetime.timedelta(days=settings.STOCKTAKE_DUE_DAYS)
    return opened


def test_a_stocktake_opened_on_schedule_is_not_overdue_until_its_due_date(next_count):
    check = morning_check(next_count.opened_at)
    while check < next_count.due_at:  # the morning after it opened, up to its due date
        assert at(check, run_policy_checks) == {}, check
        check += datetime.timedelta(days=1)
    assert not Discrepancy.objects.exists()


def test_a_stocktake_open_past_its_due_date_is_overdue(site, counted_once, next_count):
    check = morning_check(next_count.due_at)
    assert at(check, run_policy_checks) == {"stocktake_overdue": 1}
    # What the stock-take service itself says of it (the API's `overdue`, the reminders).
    assert at(check, lambda: StockTakeSerializer(next_count).data["overdue"]) is True
    finding = Discrepancy.objects.get()
    assert (finding.subject, finding.location, finding.details) == (
        site.code,
        site,
        {
            "last_completed": counted_once.opened_at.isoformat(),
            "interval_days": site.stocktake_interval_days,
        },
    )
    assert at(check + datetime.timedelta(days=1), run_policy_checks) == {}  # no duplicate


def test_a_site_never_counted_is_overdue(site):
    assert run_policy_checks() == {"stocktake_overdue": 1}
    finding = Discrepancy.objects.get()
    assert (finding.subject, finding.details["last_completed"]) == (site.code, None)


def test_a_site_whose_next_count_was_never_opened_is_overdue_after_the_interval_and_due_window(
    site, counted_once
):
    """The scheduler did not run: no count was even started in time."""
    window = datetime.timedelta(days=site.stocktake_interval_days + settings.STOCKTAKE_DUE_DAYS)
    last_in_time = morning_check(FIRST_OPENED + window) - datetime.timedelta(days=1)
    assert at(last_in_time, run_policy_checks) == {}
    assert at(last_in_time + datetime.timedelta(days=1), run_policy_checks) == {
        "stocktake_overdue": 1
    }


def test_a_count_closed_in_time_and_under_review_is_not_overdue(site, cabinet, security):
    make_terminal(location=cabinet)  # not scanned: missing, for security to review
    (count,) = at(FIRST_OPENED, stocktakes.stocktakes_open_due)
    at(FIRST_OPENED.replace(hour=15), stocktakes.stocktake_close, stocktake=count, actor=security)
    assert StockTake.objects.get(pk=count.pk).status == "closed"
    assert "stocktake_overdue" not in at(morning_check(count.due_at), run_policy_checks)
