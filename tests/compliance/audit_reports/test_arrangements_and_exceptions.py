"""Issue #12 in the internal audit report: every time-boxed arrangement of the period with what
it covered and how it ended, and every exception to the contractor supervision rules."""

import datetime
from zoneinfo import ZoneInfo

from django.utils import timezone

from compliance.audit_report import audit_report_request, today_in_report_zone
from compliance.models import AuditReportStatus
from core.roles import Role
from lending import arrangements
from lending.services import declaration_declare
from lending.supervision import supervision_exception_grant
from tests.compliance.audit_reports.conftest import section_rows
from tests.factories import make_terminal, make_user


def produce(actor, capture):
    today = today_in_report_zone()
    with capture(execute=True):
        report = audit_report_request(
            actor=actor, period_start=today - datetime.timedelta(days=1), period_end=today
        )
    report.refresh_from_db()
    assert report.status == AuditReportStatus.READY, report.error
    return report


def test_an_arrangement_shows_what_it_covered_its_extension_and_how_it_ended(
    security, operator, auditor, contractor_org, cabinet, django_capture_on_commit_callbacks
):
    second = make_user("sue", Role.SECURITY, operator)
    terminal = make_terminal(location=cabinet, asset_tag="NW-00042")
    now = timezone.now()
    arrangement = arrangements.arrangement_propose(
        actor=security, title="小売への暫定提供", reason="システム移行まで",
        parties=[contractor_org], terminals=[terminal],
        starts_at=now - datetime.timedelta(hours=2), ends_at=now + datetime.timedelta(days=3),
    )  # fmt: skip
    arrangements.arrangement_approve(arrangement=arrangement, actor=second)
    extension = arrangements.arrangement_extension_propose(
        arrangement=arrangement, actor=security, reason="移行が遅延",
        new_ends_at=now + datetime.timedelta(days=10),
    )  # fmt: skip
    arrangements.arrangement_extension_approve(extension=extension, actor=second)
    arrangement.refresh_from_db()
    arrangements.arrangement_end(arrangement=arrangement, now=arrangement.ends_at)

    report = produce(auditor, django_capture_on_commit_callbacks)

    [row] = section_rows(report, "arrangements")
    assert (row["title"], row["terminals"], row["parties"]) == (
        "小売への暫定提供", "NW-00042", contractor_org.code,
    )  # fmt: skip
    assert (row["proposed_by"], row["approved_by"]) == (security.username, "sue")
    tokyo = ZoneInfo("Asia/Tokyo")
    assert row["extensions"] == (
        f"{(now + datetime.timedelta(days=3)).astimezone(tokyo):%Y-%m-%d} → "
        f"{(now + datetime.timedelta(days=10)).astimezone(tokyo):%Y-%m-%d}"
    )
    assert (row["status"], row["loans"], row["loans_still_out"]) == ("ended", "0", "0")
    assert row["ended_at"]


def test_a_supervision_exception_is_listed_with_who_granted_it_and_why(
    security, auditor, contractor_org, site, django_capture_on_commit_callbacks
):
    declaration = declaration_declare(actor=security, title="台風15号", sites=[site])
    supervision_exception_grant(
        actor=security, declaration=declaration, contractor=contractor_org,
        reason="報告書の提出が台風で遅延", hours=24, operator_name="",
    )  # fmt: skip

    report = produce(auditor, django_capture_on_commit_callbacks)

    [row] = section_rows(report, "supervision_exceptions")
    assert (row["contractor"], row["operator"], row["declaration"]) == (
        contractor_org.code, "", str(declaration.pk),
    )  # fmt: skip
    assert (row["granted_by"], row["reason"], row["check_outs"]) == (
        security.username, "報告書の提出が台風で遅延", "0",
    )  # fmt: skip
