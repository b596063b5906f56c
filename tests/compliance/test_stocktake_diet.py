"""Issue #10's diet for stock-takes: a scan in at most 4 statements, a batch of scans with one
result and one audit event per tag, closing in set-based SQL within 20 statements whatever the
size, and policy checks recorded in bulk. Statement counts, never timings."""

import pytest
from django.db import connection

from compliance import policy_checks
from compliance import services as stocktakes
from compliance.models import Discrepancy, Scan, ScanResult, StockTake
from core.errors import InvalidInput, RuleViolation
from core.models import AuditEvent
from terminals import services
from tests.compliance.statements import statements
from tests.factories import make_location, make_terminal
from tests.support.db import nothing_written


@pytest.fixture
def second_cabinet(cabinet):
    return make_location(kind="cabinet", parent=cabinet.parent, code="hq-cab-2", name="保管庫2")


def open_count(site, security):
    return stocktakes.stocktake_open(site=site, actor=security, reason="manual")


@pytest.fixture
def stocktake(site, cabinet, second_cabinet, security):
    for n in range(3):
        make_terminal(location=cabinet, asset_tag=f"A{n}")
    make_terminal(location=second_cabinet, asset_tag="B0")
    lent = make_terminal(location=cabinet, asset_tag="LENT")
    services.terminal_reserve(terminal=lent, actor=None)
    services.terminal_lend(terminal=lent, actor=None)
    return open_count(site, security)


# Scanning -------------------------------------------------------------------------------------


def test_a_scan_takes_three_statements_and_a_repeat_four(
    stocktake, cabinet, facilities, monkeypatch
):
    with statements(monkeypatch, stocktakes) as first:
        scan = stocktakes.scan_record(
            stocktake=stocktake, location=cabinet, tag="a0", actor=facilities
        )
    assert scan.result == ScanResult.EXPECTED_HERE
    assert (first.count, first.events) == (3, 1)
    with statements(monkeypatch, stocktakes) as again:
        repeat = stocktakes.scan_record(
            stocktake=stocktake, location=cabinet, tag="A0", actor=facilities
        )
    assert repeat.result == ScanResult.REPEATED
    assert again.count <= 4
    assert stocktakes.stocktake_progress(stocktake)["found"] == 1


def test_an_undone_scan_can_be_read_again_and_counts_again(stocktake, cabinet, facilities):
    stocktakes.scan_record(stocktake=stocktake, location=cabinet, tag="A0", actor=facilities)
    stocktakes.scan_undo_last(stocktake=stocktake, actor=facilities)
    again = stocktakes.scan_record(
        stocktake=stocktake, location=cabinet, tag="A0", actor=facilities
    )
    assert again.result == ScanResult.EXPECTED_HERE
    assert stocktakes.stocktake_progress(stocktake)["found"] == 1


def test_a_scan_of_a_stale_open_stocktake_is_refused_once_it_closed(
    stocktake, cabinet, facilities, security
):
    stale = StockTake.objects.get(pk=stocktake.pk)  # read while open, as a page would have
    stocktakes.stocktake_close(stocktake=stocktake, actor=security)
    with nothing_written(), pytest.raises(RuleViolation):
        stocktakes.scan_record(stocktake=stale, location=cabinet, tag="A1", actor=facilities)
    with nothing_written(), pytest.raises(RuleViolation):
        stocktakes.scan_record_batch(
            stocktake=stale, location=cabinet, tags=["A1", "A2"], actor=facilities
        )


def test_a_tag_longer_than_a_tag_once_normalised_is_refused(stocktake, cabinet, facilities):
    with nothing_written(), pytest.raises(InvalidInput) as refused:
        stocktakes.scan_record(
            stocktake=stocktake, location=cabinet, tag="㍿" * 20, actor=facilities
        )
    assert "tag" in refused.value.field_errors


# Batch ----------------------------------------------------------------------------------------


def test_a_batch_gives_each_tag_its_own_result_and_event_in_order(stocktake, cabinet, facilities):
    scans = stocktakes.scan_record_batch(
        stocktake=stocktake,
        location=cabinet,
        tags=[" a0 ", "", "B0", "ＬＥＮＴ", "GHOST", "A0", "GHOST", "A1"],
        actor=facilities,
    )
    assert [(s.tag, s.result) for s in scans] == [
        ("A0", ScanResult.EXPECTED_HERE),
        ("B0", ScanResult.BELONGS_ELSEWHERE),
        ("LENT", ScanResult.RECORDED_AS_LENT),
        ("GHOST", ScanResult.UNKNOWN),
        ("A0", ScanResult.REPEATED),
        ("GHOST", ScanResult.UNKNOWN),
        ("A1", ScanResult.EXPECTED_HERE),
    ]
    stored = list(Scan.objects.filter(stocktake=stocktake).order_by("pk"))
    assert [(s.pk, s.tag, s.result) for s in stored] == [(s.pk, s.tag, s.result) for s in scans]
    events = AuditEvent.objects.filter(action="stocktake.scanned").order_by("pk")
    assert [(e.details["tag"], e.details["result"]) for e in events] == [
        (s.tag, s.result) for s in scans
    ]
    # The last of the batch is the one "undo" takes back.
    assert stocktakes.scan_undo_last(stocktake=stocktake, actor=facilities).tag == "A1"


def test_a_batch_after_single_scans_repeats_what_was_counted_here(stocktake, cabinet, facilities):
    stocktakes.scan_record(stocktake=stocktake, location=cabinet, tag="A0", actor=facilities)
    scans = stocktakes.scan_record_batch(
        stocktake=stocktake, location=cabinet, tags=["A0", "A1"], actor=facilities
    )
    assert [s.result for s in scans] == [ScanResult.REPEATED, ScanResult.EXPECTED_HERE]


@pytest.mark.parametrize("size", [5, 40])
def test_a_batch_takes_the_same_statements_whatever_its_size_but_one_event_per_tag(
    site, cabinet, security, facilities, monkeypatch, size
):
    for n in range(size):
        make_terminal(location=cabinet, asset_tag=f"T{n}")
    stocktake = open_count(site, security)
    tags = [f"T{n}" for n in range(size)] + ["T0", "UNKNOWN"]
    with statements(monkeypatch, stocktakes) as counted:
        stocktakes.scan_record_batch(
            stocktake=stocktake, location=cabinet, tags=tags, actor=facilities
        )
    assert counted.events == size + 2
    assert counted.count - counted.events == 2  # one read, one insert


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        (["", "  "], "Scan or type at least one asset tag."),
        (["A0", "X" * 65], "Line 2: an asset tag has at most 64 characters."),
        (["A0"] * 501, "At most 500 tags at a time."),
    ],
)
def test_a_bad_batch_records_nothing(stocktake, cabinet, facilities, tags, message):
    with nothing_written(), pytest.raises(InvalidInput) as refused:
        stocktakes.scan_record_batch(
            stocktake=stocktake, location=cabinet, tags=tags, actor=facilities
        )
    assert refused.value.field_errors == {"tags": [message]}


def test_a_batch_at_another_sites_location_is_refused(stocktake, facilities, operator):
    elsewhere = make_location(code="branch", name="支店", custodian=operator)
    with nothing_written(), pytest.raises(InvalidInput) as refused:
        stocktakes.scan_record_batch(
            stocktake=stocktake, location=elsewhere, tags=["A0"], actor=facilities
        )
    assert "location" in refused.value.field_errors


# Closing --------------------------------------------------------------------------------------


def count_with_every_kind(site, cabinet, second_cabinet, security, facilities, size):
    """`size` terminals in each cabinet; of cabinet 1's, one read only in cabinet 2 (found
    elsewhere), one in both (scanned twice), one read and undone (missing), the others missing
    or found; two unknown tags, one read twice; the lent one found."""
    for n in range(size):
        make_terminal(location=cabinet, asset_tag=f"C1-{n}")
        make_terminal(location=second_cabinet, asset_tag=f"C2-{n}")
    lent = make_terminal(location=cabinet, asset_tag="LENT")
    services.terminal_reserve(terminal=lent, actor=None)
    services.terminal_lend(terminal=lent, actor=None)
    stocktake = open_count(site, security)

    def read(location, *tags):
        stocktakes.scan_record_batch(
            stocktake=stocktake, location=location, tags=list(tags), actor=facilities
        )

    read(cabinet, *(f"C1-{n}" for n in range(3, size)), "LENT", "GHOST-1", "C1-2")
    stocktakes.scan_undo_last(stocktake=stocktake, actor=facilities)  # C1-2: missing after all
    read(second_cabinet, *(f"C2-{n}" for n in range(size)), "C1-0", "C1-1", "GHOST-2")
    read(cabinet, "C1-1", "GHOST-2")
    return stocktake


@pytest.mark.parametrize("size", [4, 40])
def test_closing_takes_the_same_few_statements_whatever_the_size(
    site, cabinet, second_cabinet, security, facilities, monkeypatch, size
):
    stocktake = count_with_every_kind(site, cabinet, second_cabinet, security, facilities, size)
    with statements(monkeypatch, stocktakes) as counted:
        stocktakes.stocktake_close(stocktake=stocktake, actor=security)
    # The lock, one INSERT ... SELECT (after turning off PostgreSQL's JIT for it), the counts
    # per kind, the update, one event: at both sizes.
    assert counted.count == (6 if connection.vendor == "postgresql" else 5)
    found = {
        (d.kind, d.subject): (d.location, d.terminal and d.terminal.asset_tag, d.details)
        for d in stocktake.discrepancies.select_related("location", "terminal")
    }
    assert found == {
        ("missing", "C1-2"): (cabinet, "C1-2", {}),
        ("found_elsewhere", "C1-0"): (second_cabinet, "C1-0", {"recorded_location": cabinet.pk}),
        ("scanned_twice", "C1-1"): (
            None,
            "C1-1",
            {"locations": sorted([cabinet.pk, second_cabinet.pk])},
        ),
        ("found_but_lent", "LENT"): (cabinet, "LENT", {"recorded_status": "lent"}),
        ("unknown_tag", "GHOST-1"): (cabinet, None, {}),
        ("unknown_tag", "GHOST-2"): (cabinet, None, {}),  # where it was read last
    }
    assert all(
        d.status == "open" and d.stocktake_id == stocktake.pk for d in Discrepancy.objects.all()
    )
    event = AuditEvent.objects.get(action="stocktake.closed")
    assert event.details["discrepancies"] == {
        "missing": 1,
        "found_elsewhere": 1,
        "scanned_twice": 1,
        "found_but_lent": 1,
        "unknown_tag": 2,
    }


def test_the_close_preview_counts_what_closing_records(
    site, cabinet, second_cabinet, security, facilities
):
    stocktake = count_with_every_kind(site, cabinet, second_cabinet, security, facilities, 4)
    preview = stocktakes.stocktake_findings_count(stocktake)
    stocktakes.stocktake_close(stocktake=stocktake, actor=security)
    assert preview == AuditEvent.objects.get(action="stocktake.closed").details["discrepancies"]


# Policy checks --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [2, 30])
def test_policy_checks_record_in_bulk(open_room, security, monkeypatch, size):
    for _n in range(size):
        make_terminal(location=open_room)
    with statements(monkeypatch) as first:
        recorded = policy_checks.run_policy_checks()
    assert recorded["outside_secured_location"] == size
    # Each finding its own event, all of them written by one INSERT.
    assert AuditEvent.objects.filter(action="discrepancy.opened").count() == sum(recorded.values())
    # The rules' queries (8 here: the custody and arrangement rules joined the storage,
    # account, directory and stock-take ones), then in one transaction the run's lock, the
    # findings still open, the resolved ones, one insert of findings and one of their events:
    # the same at both sizes, not one per finding.
    assert first.count <= 16
    findings = list(Discrepancy.objects.filter(kind="outside_secured_location"))
    for finding in findings[:2]:
        stocktakes.discrepancy_resolve(
            discrepancy=finding, actor=security, outcome="fixed", note="moved back"
        )
    with statements(monkeypatch) as again:
        assert policy_checks.run_policy_checks() == {"outside_secured_location": 2}
    assert again.count <= 17  # and one bulk update
    reopened = Discrepancy.objects.filter(pk__in=[f.pk for f in findings[:2]])
    assert {(f.status, f.outcome, f.resolved_by_id) for f in reopened} == {("open", "", None)}
    assert Discrepancy.objects.filter(kind="outside_secured_location").count() == size
    assert AuditEvent.objects.filter(action="discrepancy.reopened").count() == 2
