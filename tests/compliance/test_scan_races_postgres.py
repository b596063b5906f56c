"""Scanning beside other scanners and beside closing, on PostgreSQL (row locks do nothing on
SQLite, where one transaction writes at a time). A scan shares the stock-take's row with every
other scan (FOR KEY SHARE) and closing takes it alone (FOR UPDATE): scanners never wait for each
other, closing waits for the scans in flight and includes them, and a scan that arrives while
closing runs waits, then is refused."""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from compliance import services as stocktakes
from compliance.models import Scan, ScanResult, StockTake
from core.errors import RuleViolation
from tests.factories import make_location, make_terminal

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql_only]


class Background(threading.Thread):
    """Runs `target` in its own thread and database connection; keeps its result or error."""

    def __init__(self, target):
        super().__init__(daemon=True)
        self.target, self.result = target, None

    def run(self):
        try:
            self.result = self.target()
        except Exception as exc:  # the refusal is the result under test
            self.result = exc
        finally:
            connections.close_all()

    def outcome(self):
        self.join(timeout=30)
        assert not self.is_alive(), "the thread did not finish"
        return self.result


def held_open(work, done: threading.Event, release: threading.Event) -> Background:
    """`work` in a transaction that stays open (uncommitted) until `release` is set."""

    def run():
        with transaction.atomic():
            result = work()
            done.set()
            assert release.wait(timeout=20), "never released"
        return result

    thread = Background(run)
    thread.start()
    assert done.wait(timeout=20), "the work did not finish"
    return thread


def wait_until_blocked(count: int = 1) -> None:
    """Until `count` other sessions wait for a lock (never for a set time)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0] >= count:
                return
        time.sleep(0.05)
    raise AssertionError("nobody waited for a lock")


@pytest.fixture
def world(site, cabinet, security, facilities):
    second = make_location(kind="cabinet", parent=cabinet.parent, code="hq-cab-2", name="保管庫2")
    for tag in ("A", "B", "C"):
        make_terminal(location=cabinet, asset_tag=tag)
    stocktake = stocktakes.stocktake_open(site=site, actor=security, reason="manual")
    return stocktake, cabinet, second


def scan(stocktake, location, tag, user):
    return lambda: stocktakes.scan_record(
        stocktake=stocktake, location=location, tag=tag, actor=user
    )


def test_a_scanner_does_not_wait_for_another_scanners_open_transaction(world, facilities):
    stocktake, cabinet, _second = world
    done, release = threading.Event(), threading.Event()
    first = held_open(scan(stocktake, cabinet, "A", facilities), done, release)
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")  # a wait would fail, not hang
            second = stocktakes.scan_record(
                stocktake=stocktake, location=cabinet, tag="B", actor=facilities
            )
    finally:
        release.set()
    assert first.outcome().result == second.result == ScanResult.EXPECTED_HERE
    assert Scan.objects.count() == 2


def test_closing_waits_for_a_scan_in_flight_and_includes_it(world, facilities, security):
    stocktake, _cabinet, second = world
    done, release = threading.Event(), threading.Event()
    scanning = held_open(scan(stocktake, second, "A", facilities), done, release)
    closing = Background(lambda: stocktakes.stocktake_close(stocktake=stocktake, actor=security))
    closing.start()
    wait_until_blocked()
    release.set()
    assert scanning.outcome().result == ScanResult.BELONGS_ELSEWHERE
    assert isinstance(closing.outcome(), StockTake)
    found = set(stocktake.discrepancies.values_list("kind", "subject"))
    assert found == {("found_elsewhere", "A"), ("missing", "B"), ("missing", "C")}


def test_a_scan_arriving_while_closing_runs_waits_and_is_refused(
    world, facilities, security, monkeypatch
):
    stocktake, cabinet, _second = world
    closing_read, release = threading.Event(), threading.Event()
    record_findings = stocktakes._record_findings

    def pausing(*args, **kwargs):
        counts = record_findings(*args, **kwargs)
        closing_read.set()
        assert release.wait(timeout=20), "never released"
        return counts

    monkeypatch.setattr(stocktakes, "_record_findings", pausing)
    closing = Background(lambda: stocktakes.stocktake_close(stocktake=stocktake, actor=security))
    closing.start()
    assert closing_read.wait(timeout=20)
    late = Background(scan(stocktake, cabinet, "A", facilities))
    late.start()
    wait_until_blocked()
    release.set()
    assert isinstance(closing.outcome(), StockTake)
    assert isinstance(late.outcome(), RuleViolation)
    assert not Scan.objects.exists()
    assert stocktake.discrepancies.filter(kind="missing").count() == 3


def test_of_two_simultaneous_reads_of_one_tag_at_one_place_one_counts(world, facilities):
    stocktake, cabinet, _second = world
    done, release = threading.Event(), threading.Event()
    first = held_open(scan(stocktake, cabinet, "A", facilities), done, release)
    second = Background(scan(stocktake, cabinet, "A", facilities))
    second.start()
    wait_until_blocked()  # the unique index makes the second wait for the first's outcome
    release.set()
    results = sorted([first.outcome().result, second.outcome().result])
    assert results == [ScanResult.EXPECTED_HERE, ScanResult.REPEATED]
    assert stocktakes.stocktake_progress(stocktake)["found"] == 1
