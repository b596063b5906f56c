"""Each section of a report over 10-12 November 2026 holds what happened then, and nothing from
one second before the period or from the midnight that ends it (Asia/Tokyo)."""

from compliance.audit_report import audit_report_request
from compliance.models import AuditReportStatus
from tests.compliance.audit_reports.conftest import PERIOD, PRODUCED_AT, section_rows, travel


def produce(actor, django_capture_on_commit_callbacks, period=PERIOD):
    with travel(PRODUCED_AT), django_capture_on_commit_callbacks(execute=True):
        report = audit_report_request(actor=actor, period_start=period[0], period_end=period[1])
    report.refresh_from_db()
    assert report.status == AuditReportStatus.READY, report.error
    return report


def test_the_loan_journey_reads_from_request_to_rotation(
    journey, auditor, django_capture_on_commit_callbacks
):
    report = produce(auditor, django_capture_on_commit_callbacks)

    [loan] = section_rows(report, "loans")
    assert loan["loan"] == str(journey.loan.pk)
    assert loan["asset_tag"] == "NW-00001"
    assert loan["contractor"] == "kanto-denko"
    assert loan["submitted_at"] == "2026-11-10T00:00:00+09:00"  # the period's first instant
    assert (loan["approved_at"], loan["approved_by"]) == ("2026-11-10T09:00:00+09:00", "aki")
    assert (loan["checked_out_at"], loan["handed_out_by"]) == ("2026-11-10T10:00:00+09:00", "fiona")
    assert (loan["reveals"], loan["revealed_at"]) == ("1", "2026-11-10T10:05:00+09:00")
    assert loan["returned_at"] == "2026-11-11T15:00:00+09:00"
    assert (loan["status"], loan["condition"]) == ("returned", "ok")
    assert (loan["rotation"], loan["rotated_at"]) == ("succeeded", "2026-11-11T15:00:00+09:00")


def test_reveals_name_the_loan_and_the_login_id(
    journey, auditor, django_capture_on_commit_callbacks
):
    report = produce(auditor, django_capture_on_commit_callbacks)

    [reveal] = section_rows(report, "reveals")
    assert reveal["event"] == "revealed"
    assert (reveal["by"], reveal["again"]) == ("carl", "no")
    assert reveal["account"] == str(journey.account.pk)
    assert reveal["loan"] == str(journey.loan.pk)
    assert reveal["contractor"] == "kanto-denko"
    assert reveal["login_id"]  # the one shown, never the password
    assert "password" not in report.sections.get(name="reveals").csv.lower()


def test_rotations_are_those_of_the_period_only(
    journey, auditor, django_capture_on_commit_callbacks
):
    report = produce(auditor, django_capture_on_commit_callbacks)

    rows = section_rows(report, "rotations")
    # The return's rotation and the short-lived account's first one; not the first rotations
    # of 9 November, nor the one forced at the midnight that ends the period.
    assert sorted((r["asset_tag"], r["reason"], r["status"]) for r in rows) == [
        ("NW-00001", "return", "succeeded"),
        ("NW-00003", "initial", "succeeded"),
    ]


def test_terminals_show_where_each_was_and_what_it_went_through(
    journey, auditor, django_capture_on_commit_callbacks
):
    report = produce(auditor, django_capture_on_commit_callbacks)

    terminals = {row["asset_tag"]: row for row in section_rows(report, "terminals")}
    # NW-00004 was registered at the midnight after the period: it was not there yet.
    assert sorted(terminals) == ["NW-00001", "NW-00002", "NW-00003"]
    lent = terminals["NW-00001"]
    assert (lent["status_at_start"], lent["status_at_end"]) == ("in_storage", "in_storage")
    assert lent["statuses"] == "in_storage | reserved | lent | returned | in_storage"
    assert lent["location_at_start"] == lent["location_at_end"] == "hq-cab-1"
    # Sent to maintenance one second before the period: so it was all along.
    spare = terminals["NW-00002"]
    assert (spare["status_at_start"], spare["movements"]) == ("maintenance", "0")
    # Registered during the period: nowhere at its start.
    assert terminals["NW-00003"]["status_at_start"] == ""

    movements = section_rows(report, "terminal_movements")
    assert {m["asset_tag"] for m in movements} == {"NW-00001", "NW-00003"}
    assert all("2026-11-10" <= m["time"][:10] <= "2026-11-12" for m in movements)


def test_stocktakes_and_their_findings_with_how_they_were_resolved(
    journey, auditor, django_capture_on_commit_callbacks
):
    report = produce(auditor, django_capture_on_commit_callbacks)

    [stocktake] = section_rows(report, "stocktakes")
    assert (stocktake["site"], stocktake["status"]) == ("hq", "closed")
    findings = {row["finding"]: row for row in section_rows(report, "stocktake_findings")}
    assert int(stocktake["findings"]) == len(findings) >= 1
    resolved = findings[str(journey.stocktake_finding.pk)]
    assert (resolved["kind"], resolved["status"], resolved["outcome"]) == (
        "missing", "resolved", "found",
    )  # fmt: skip
    assert (resolved["note"], resolved["resolved_by"]) == ("棚の奥", "sam")


def test_access_log_findings_with_their_sign_in_and_resolution(
    journey, auditor, django_capture_on_commit_callbacks
):
    report = produce(auditor, django_capture_on_commit_callbacks)

    [finding] = section_rows(report, "sign_in_findings")
    assert finding["finding"] == str(journey.sign_in_finding.pk)
    assert finding["kind"] == "sign_in_not_lent"
    assert (finding["login_id"], finding["source_host"]) == ("nw-old-id", "retail-pc-7")
    assert finding["signed_in_at"] == "2026-11-12T08:00:00+09:00"
    assert (finding["log_line"], finding["asset_tag"]) == ("42", "NW-00001")
    assert finding["expected"] == "An open loan of NW-00001."  # in words, and as its phrase:
    assert '"tests.audit_report.expected_loan"' in finding["expected_phrase"]
    assert (finding["status"], finding["outcome"], finding["note"]) == (
        "resolved", "fixed", "小売部門に確認済み",
    )  # fmt: skip


def test_accounts_created_and_deleted_in_the_period_and_no_others(
    journey, auditor, django_capture_on_commit_callbacks
):
    report = produce(auditor, django_capture_on_commit_callbacks)

    rows = section_rows(report, "accounts")
    assert [(r["event"], r["account"], r["by"]) for r in rows] == [
        ("created", str(journey.short_lived.pk), "sam"),
        ("deleted", str(journey.short_lived.pk), "sam"),
    ]
    assert rows[1]["time"] == "2026-11-12T23:59:59+09:00"  # the period's last second
    assert rows[0]["login_id"] == rows[1]["login_id"] != ""


def test_the_audit_chain_is_verified_over_the_period(
    journey, auditor, django_capture_on_commit_callbacks
):
    report = produce(auditor, django_capture_on_commit_callbacks)

    [chain] = section_rows(report, "audit_chain")
    assert chain["result"] == "verified"
    assert int(chain["period_events"]) > 0 and chain["unsealed_in_period"] == "0"
    assert report.chain_verification["result"] == "verified"


def test_an_empty_period_has_every_section_with_its_header(
    journey, auditor, django_capture_on_commit_callbacks
):
    import datetime

    report = produce(
        auditor,
        django_capture_on_commit_callbacks,
        period=(datetime.date(2026, 11, 1), datetime.date(2026, 11, 8)),
    )
    assert report.sections.count() == 12
    assert section_rows(report, "loans") == []
    assert report.sections.get(name="loans").csv.startswith("\ufeffloan,asset_tag,")
