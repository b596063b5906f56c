import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail

from compliance import services as stocktakes
from compliance.models import Discrepancy, ScanResult, StockTake
from compliance.tasks import open_due_stocktakes
from core.errors import InvalidInput, RuleViolation
from core.models import AuditEvent
from terminals import services
from terminals.models import Terminal
from tests.factories import make_location, make_terminal, make_user
from tests.support.db import nothing_written

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture
def second_cabinet(cabinet):
    return make_location(kind="cabinet", parent=cabinet.parent, code="hq-cab-2", name="保管庫2")


@pytest.fixture
def counted(cabinet, second_cabinet):
    """Three terminals in cabinet 1, one in cabinet 2, one lent, one retired."""
    terminals = {name: make_terminal(location=cabinet, asset_tag=name) for name in ("A", "B", "C")}
    terminals["D"] = make_terminal(location=second_cabinet, asset_tag="D")
    lent = make_terminal(location=cabinet, asset_tag="LENT")
    services.terminal_reserve(terminal=lent, actor=None)
    terminals["LENT"] = services.terminal_lend(terminal=lent, actor=None)
    retired = make_terminal(location=cabinet, asset_tag="OLD")
    terminals["OLD"] = services.terminal_retire(terminal=retired, actor=None, reason="end of life")
    return terminals


@pytest.fixture
def stocktake(site, counted, security):
    return stocktakes.stocktake_open(site=site, actor=security, reason="manual")


def scan(stocktake, location, tag, user):
    return stocktakes.scan_record(
        stocktake=stocktake, location=location, tag=tag, actor=user
    ).result


def test_opening_snapshots_every_terminal_but_retired_ones(stocktake, counted):
    expected = dict(stocktake.expectations.values_list("terminal__asset_tag", "status"))
    assert expected == {
        "A": "in_storage",
        "B": "in_storage",
        "C": "in_storage",
        "D": "in_storage",
        "LENT": "lent",
    }
    assert AuditEvent.objects.filter(action="stocktake.opened").get().details["expected"] == 5


def test_a_second_open_stocktake_of_the_same_site_is_refused(stocktake, site, security):
    with nothing_written(stocktake), pytest.raises(RuleViolation):
        stocktakes.stocktake_open(site=site, actor=security, reason="manual")


def test_each_scan_says_at_once_what_it_means(stocktake, cabinet, second_cabinet, facilities):
    assert scan(stocktake, cabinet, "A", facilities) == ScanResult.EXPECTED_HERE
    assert scan(stocktake, cabinet, "A", facilities) == ScanResult.REPEATED
    assert scan(stocktake, cabinet, "D", facilities) == ScanResult.BELONGS_ELSEWHERE
    assert scan(stocktake, cabinet, "LENT", facilities) == ScanResult.RECORDED_AS_LENT
    assert scan(stocktake, cabinet, "NO-SUCH-TAG", facilities) == ScanResult.UNKNOWN
    assert Terminal.objects.get(asset_tag="D").location == second_cabinet  # reported, not moved


def test_progress_counts_found_over_expected_per_location(
    stocktake, cabinet, second_cabinet, facilities
):
    scan(stocktake, cabinet, "A", facilities)
    scan(stocktake, cabinet, "A", facilities)
    scan(stocktake, cabinet, "D", facilities)
    progress = stocktakes.stocktake_progress(stocktake)
    assert progress["per_location"][cabinet.pk] == (1, 3)
    assert progress["per_location"][second_cabinet.pk] == (0, 1)
    assert (progress["found"], progress["expected"]) == (1, 4)


def test_undo_removes_only_my_last_scan(stocktake, cabinet, facilities, operator):
    other = make_user("other-staff", "facilities", operator)
    scan(stocktake, cabinet, "A", facilities)
    scan(stocktake, cabinet, "B", other)
    undone = stocktakes.scan_undo_last(stocktake=stocktake, actor=facilities)
    assert undone.tag == "A"
    assert stocktakes.stocktake_progress(stocktake)["found"] == 1


def test_closing_records_every_kind_of_discrepancy(
    stocktake, cabinet, second_cabinet, facilities, security
):
    scan(stocktake, cabinet, "A", facilities)  # fine
    scan(stocktake, second_cabinet, "B", facilities)  # found elsewhere
    scan(stocktake, cabinet, "LENT", facilities)  # found but recorded as lent
    scan(stocktake, cabinet, "GHOST-1", facilities)  # unknown
    scan(stocktake, cabinet, "D", facilities)  # D: found elsewhere, and twice
    scan(stocktake, second_cabinet, "D", facilities)
    # C: missing
    stocktakes.stocktake_close(stocktake=stocktake, actor=security)
    found = sorted(stocktake.discrepancies.values_list("kind", "subject"))
    assert found == [
        ("found_but_lent", "LENT"),
        ("found_elsewhere", "B"),
        ("missing", "C"),
        ("scanned_twice", "D"),
        ("unknown_tag", "GHOST-1"),
    ]
    summary = stocktakes.stocktake_summary(stocktake)
    rolled = dict((loc.code, counts) for loc, counts in summary["per_location"])
    # The totals and the site's row are the same numbers (issue 9, item 10): the tag scanned at
    # two locations counts at the site, not nowhere.
    assert (
        rolled["hq"]
        == summary["per_kind"]
        == {
            "found_but_lent": 1,
            "found_elsewhere": 1,
            "missing": 1,
            "scanned_twice": 1,
            "unknown_tag": 1,
        }
    )
    with nothing_written(stocktake), pytest.raises(RuleViolation):
        scan(stocktake, cabinet, "A", facilities)


def test_a_clean_count_completes_at_once(stocktake, cabinet, second_cabinet, facilities, security):
    for tag in ("A", "B", "C"):
        scan(stocktake, cabinet, tag, facilities)
    scan(stocktake, second_cabinet, "D", facilities)
    stocktake = stocktakes.stocktake_close(stocktake=stocktake, actor=security)
    assert stocktake.status == StockTake.Status.COMPLETED
    assert not stocktake.discrepancies.exists()


def test_whoever_scanned_cannot_resolve_and_resolving_all_completes_it(
    stocktake, cabinet, second_cabinet, facilities, security, operator
):
    for tag in ("A", "C"):
        scan(stocktake, cabinet, tag, facilities)
    scan(stocktake, second_cabinet, "D", facilities)
    scan(stocktake, cabinet, "B", security)  # a security officer helped scanning
    scan(stocktake, second_cabinet, "B", facilities)
    stocktakes.stocktake_close(stocktake=stocktake, actor=security)
    twice = stocktake.discrepancies.get(kind="scanned_twice")
    reviewer = make_user("reviewer", "security", operator)
    with nothing_written(twice, stocktake):
        with pytest.raises(RuleViolation):
            stocktakes.discrepancy_resolve(
                discrepancy=twice, actor=security, outcome="found", note="ok"
            )
        with pytest.raises(InvalidInput):
            stocktakes.discrepancy_resolve(
                discrepancy=twice, actor=reviewer, outcome="orphan_deleted", note="x"
            )
        with pytest.raises(InvalidInput):
            stocktakes.discrepancy_resolve(
                discrepancy=twice, actor=reviewer, outcome="found", note=" "
            )
    stocktakes.discrepancy_resolve(
        discrepancy=twice, actor=reviewer, outcome="found", note="同じ棚で二度読んだ"
    )
    stocktake.refresh_from_db()
    assert stocktake.status == StockTake.Status.COMPLETED
    assert AuditEvent.objects.filter(action="discrepancy.resolved").count() == 1


def test_outcomes_change_the_inventory(stocktake, cabinet, second_cabinet, facilities, security):
    scan(stocktake, second_cabinet, "A", facilities)  # A found elsewhere
    scan(stocktake, cabinet, "B", facilities)
    scan(stocktake, second_cabinet, "D", facilities)
    stocktakes.stocktake_close(stocktake=stocktake, actor=security)  # C missing
    relocated = stocktake.discrepancies.get(kind="found_elsewhere")
    stocktakes.discrepancy_resolve(
        discrepancy=relocated, actor=security, outcome="relocated", note="棚を移した"
    )
    assert Terminal.objects.get(asset_tag="A").location == second_cabinet
    missing = stocktake.discrepancies.get(kind="missing")
    stocktakes.discrepancy_resolve(
        discrepancy=missing, actor=security, outcome="lost_or_stolen", note="盗難届"
    )
    assert Terminal.objects.get(asset_tag="C").status == Terminal.Status.LOST


def test_scans_outside_the_site_are_refused(stocktake, facilities, operator):
    elsewhere = make_location(code="branch", custodian=operator)
    with nothing_written(stocktake), pytest.raises(InvalidInput):
        stocktakes.scan_record(stocktake=stocktake, location=elsewhere, tag="A", actor=facilities)


def test_beats_schedule_opens_due_stocktakes_once(site, counted):
    from config.celery import app

    entry = app.conf.beat_schedule["open-due-stocktakes"]["schedule"]
    morning = datetime.datetime(2026, 12, 1, 6, 0, 5, tzinfo=TOKYO)
    with time_machine.travel(morning, tick=False):
        is_due, _next = entry.is_due(morning - datetime.timedelta(days=1))
        assert is_due
        open_due_stocktakes.delay()
        open_due_stocktakes.delay()  # a second beat, or a second scheduler
    assert StockTake.objects.filter(site=site).count() == 1
    with time_machine.travel(morning + datetime.timedelta(days=1), tick=False):
        StockTake.objects.update(status="completed")
        open_due_stocktakes.delay()
    assert StockTake.objects.filter(site=site).count() == 1  # interval not over
    with time_machine.travel(morning + datetime.timedelta(days=30), tick=False):
        open_due_stocktakes.delay()
    assert StockTake.objects.filter(site=site).count() == 2


def test_reminders_and_overdue_notices_are_one_summary_per_recipient(
    site, operator, security, facilities
):
    for user in (security, facilities):
        user.email = f"{user.username}@example.jp"
        user.save()
    second_site = make_location(code="branch", custodian=operator)
    now = datetime.datetime(2026, 12, 1, 8, 0, tzinfo=TOKYO)
    stocktakes.stocktake_open(
        site=site, actor=security, reason="manual", now=now - datetime.timedelta(days=6)
    )
    stocktakes.stocktake_open(
        site=second_site, actor=security, reason="manual", now=now - datetime.timedelta(days=6)
    )
    assert stocktakes.stocktake_reminders(now=now) == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["fiona@example.jp", "sam@example.jp"]
    assert all(site.name in m.body and second_site.name in m.body for m in mail.outbox)
    assert stocktakes.stocktake_reminders(now=now) == 0  # sent once
    assert (
        stocktakes.stocktake_reminders(now=now + datetime.timedelta(days=2)) == 2
    )  # overdue notice


def test_a_missing_card_at_return_can_be_resolved_as_lost(cabinet, security):
    from tests.factories import make_card, make_discrepancy

    card = make_card(location=cabinet)
    services.access_card_lend(card=card, actor=None)
    discrepancy = make_discrepancy(kind=Discrepancy.Kind.CARD_NOT_RETURNED, access_card=card)
    stocktakes.discrepancy_resolve(
        discrepancy=discrepancy, actor=security, outcome="lost_or_stolen", note="紛失届"
    )
    card.refresh_from_db()
    assert card.status == "lost"
