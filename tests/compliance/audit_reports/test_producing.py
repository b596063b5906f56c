"""Producing a report: the digest of its CSV files goes into the audit trail, an edited file is
caught, a broker that is down loses nothing, and a failure is recorded."""

import datetime
import hashlib

import pytest
from celery import current_app

from compliance import audit_report
from compliance.audit_report import (
    PRODUCE_TASK,
    audit_report_produce,
    audit_report_request,
    audit_report_verify,
    audit_reports_resend_stale,
)
from compliance.models import AuditReport, AuditReportSection, AuditReportStatus
from core.audit import events_about
from core.errors import InvalidInput
from tests.compliance.audit_reports.conftest import PERIOD, PRODUCED_AT, travel


def request_report(actor, capture, *, execute=True):
    with travel(PRODUCED_AT), capture(execute=execute):
        report = audit_report_request(actor=actor, period_start=PERIOD[0], period_end=PERIOD[1])
    report.refresh_from_db()
    return report


def test_the_digest_recorded_in_the_audit_trail_is_that_of_the_csv_files(
    journey, security, django_capture_on_commit_callbacks
):
    report = request_report(security, django_capture_on_commit_callbacks)

    event = events_about(report).get(action="audit_report.produced")
    sections = list(report.sections.order_by("position"))
    # Anyone holding the downloaded files can recompute it: sha256sum's lines, hashed.
    lines = "".join(
        f"{hashlib.sha256(s.csv.encode('utf-8')).hexdigest()}  {s.name}.csv\n" for s in sections
    )
    assert event.details["digest"] == report.digest == hashlib.sha256(lines.encode()).hexdigest()
    assert event.details["period_start"] == "2026-11-10"
    assert event.details["period_end"] == "2026-11-12"
    assert event.details["sections"]["loans"] == report.sections.get(name="loans").sha256
    assert events_about(report).filter(action="audit_report.requested").count() == 1

    verification = audit_report_verify(report)
    assert verification.unchanged and verification.problems == []


def test_an_edited_csv_file_is_caught(journey, security, django_capture_on_commit_callbacks):
    report = request_report(security, django_capture_on_commit_callbacks)
    loans = report.sections.get(name="loans")
    # Someone with database access removes the loan's reveal, and even fixes the stored hash.
    edited = loans.csv.replace(",1,2026-11-10T10:05:00+09:00,", ",0,,")
    assert edited != loans.csv
    AuditReportSection.objects.filter(pk=loans.pk).update(
        csv=edited, sha256=hashlib.sha256(edited.encode()).hexdigest()
    )

    verification = audit_report_verify(report)
    assert not verification.unchanged
    assert verification.changed_sections == ["loans"]
    assert any("Loans and their timeline" in problem for problem in verification.problems)


def test_a_report_sent_twice_is_produced_once(
    journey, security, django_capture_on_commit_callbacks
):
    report = request_report(security, django_capture_on_commit_callbacks)
    audit_report_produce(report_id=report.pk)  # the sweeper's late copy

    assert report.sections.count() == len(audit_report.SECTIONS)
    assert events_about(report).filter(action="audit_report.produced").count() == 1


def test_a_report_requested_while_the_broker_is_down_is_produced_by_the_sweeper(
    journey, security, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    task = current_app.tasks[PRODUCE_TASK]

    def broker_down(*args):
        raise ConnectionError("Error 111 connecting to redis:6379. Connection refused.")

    with monkeypatch.context() as down:
        down.setattr(task, "delay", broker_down)
        report = request_report(security, django_capture_on_commit_callbacks)
        # The request committed; the message was not sent: the row is the record.
        assert report.status == AuditReportStatus.PRODUCING
        assert "the sweeper will resend it" in caplog.text
        with travel(PRODUCED_AT + datetime.timedelta(minutes=1)):
            assert audit_reports_resend_stale() == 0  # not stale yet

    with travel(PRODUCED_AT + datetime.timedelta(minutes=10)):
        assert audit_reports_resend_stale() == 1
    report.refresh_from_db()
    assert report.status == AuditReportStatus.READY
    assert audit_report_verify(report).unchanged


def test_a_failure_is_recorded_on_the_report(
    journey, security, django_capture_on_commit_callbacks, monkeypatch
):
    def broken(period):
        raise RuntimeError("disk full")

    spec = audit_report.SECTIONS_BY_NAME["rotations"]
    index = audit_report.SECTIONS.index(spec)
    monkeypatch.setattr(
        audit_report,
        "SECTIONS",
        (
            *audit_report.SECTIONS[:index],
            audit_report.SectionSpec(spec.name, spec.title, spec.description, spec.columns, broken),
            *audit_report.SECTIONS[index + 1 :],
        ),
    )
    report = request_report(security, django_capture_on_commit_callbacks)

    assert report.status == AuditReportStatus.FAILED
    assert "disk full" in report.error
    assert not report.sections.exists()
    assert events_about(report).filter(action="audit_report.failed").count() == 1
    assert audit_report_verify(report) is None


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (datetime.date(2026, 11, 12), datetime.date(2026, 11, 10), "period_end"),
        (datetime.date(2026, 11, 21), datetime.date(2026, 11, 22), "period_start"),
        (datetime.date(2026, 11, 19), datetime.date(2026, 11, 21), "period_end"),
        (datetime.date(2025, 1, 1), datetime.date(2026, 11, 1), "period_end"),
    ],
    ids=["reversed", "future", "ends-tomorrow", "too-long"],
)
def test_a_bad_period_is_refused_and_nothing_is_written(security, start, end, field):
    with travel(PRODUCED_AT), pytest.raises(InvalidInput) as refused:
        audit_report_request(actor=security, period_start=start, period_end=end)
    assert field in refused.value.field_errors
    assert not AuditReport.objects.exists()


def test_the_query_count_does_not_grow_with_the_rows(
    journey, django_assert_max_num_queries, django_capture_on_commit_callbacks, security
):
    from compliance.audit_report import Period, build_sections
    from tests.compliance.audit_reports.conftest import at
    from tests.factories import make_terminal

    period = Period(*PERIOD)
    with travel(PRODUCED_AT):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as few:
            build_sections(period)
    with travel(at(11, 12)):
        for n in range(5, 15):
            make_terminal(location=journey.lent.location, asset_tag=f"NW-{n:05d}")
    with travel(PRODUCED_AT), django_assert_max_num_queries(len(few.captured_queries)):
        build_sections(period)
