"""The supervision records: reports with their checklist and review, audits and their
follow-up, trainings and undertakings. Each write is one audit event; a refused one writes
nothing."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.errors import InvalidInput, TransitionNotAllowed
from core.models import AuditEvent
from lending import supervision
from lending.models import ReportOutcome
from tests.lending.supervision.conftest import OPERATOR, days, training
from tests.support.db import nothing_written

YES = {code: "yes" for code, _question in supervision.CHECKLIST}


def _submit(actor, contractor=None, **changes):
    fields = {
        "actor": actor,
        "contractor": contractor,
        "period_start": days(-1),
        "period_end": days(360),
        "answers": YES,
    }
    fields.update(changes)
    return supervision.contractor_report_submit(**fields)


def test_a_contractors_user_submits_their_own_report_with_its_checklist_and_file(firm, firm_user):
    report = _submit(
        firm_user,
        answers={**YES, "incidents": "No"},
        file=SimpleUploadedFile("report.pdf", b"%PDF-1.4\n", content_type="application/pdf"),
    )
    assert report.contractor == firm
    assert report.outcome == ReportOutcome.PENDING
    assert report.answers["incidents"] == "no"
    assert report.file.read() == b"%PDF-1.4\n"
    event = AuditEvent.objects.get(action="contractor_report.submitted")
    assert (event.actor, event.details["contractor"]) == (firm_user, firm.code)


def test_a_contractors_user_cannot_submit_for_another_contractor(firm_user, contractor_org):
    with nothing_written(), pytest.raises(InvalidInput) as refused:
        _submit(firm_user, contractor_org)
    assert refused.value.field_errors["contractor"] == [
        "You can submit reports only for your own organization."
    ]


def test_security_submits_for_any_contractor_but_must_name_it(security, firm):
    assert _submit(security, firm).contractor == firm
    with pytest.raises(InvalidInput) as refused:
        _submit(security)
    assert "contractor" in refused.value.field_errors


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"period_start": None}, "period_start"),
        ({"period_end": days(-5)}, "period_end"),
        ({"period_end": days(500)}, "period_end"),
        ({"answers": {**YES, "policy": ""}}, "answers"),
        ({"answers": {**YES, "policy": "maybe"}}, "answers"),
        ({"answers": {**YES, "unknown": "yes"}}, "answers"),
    ],
)
def test_a_report_with_a_bad_period_or_checklist_is_refused_on_its_field(firm_user, changes, field):
    with nothing_written(), pytest.raises(InvalidInput) as refused:
        _submit(firm_user, **changes)
    assert list(refused.value.field_errors) == [field]


def test_security_accepts_a_report_once(firm_user, security):
    report = supervision.contractor_report_accept(
        report=_submit(firm_user), actor=security, note="確認済み"
    )
    assert (report.outcome, report.reviewed_by, report.review_note) == (
        ReportOutcome.ACCEPTED,
        security,
        "確認済み",
    )
    assert AuditEvent.objects.filter(action="contractor_report.accepted").count() == 1
    with nothing_written(report), pytest.raises(TransitionNotAllowed):
        supervision.contractor_report_reject(report=report, actor=security, note="やはり")


def test_a_rejection_needs_a_note(firm_user, security):
    report = _submit(firm_user)
    with nothing_written(report), pytest.raises(InvalidInput) as refused:
        supervision.contractor_report_reject(report=report, actor=security, note=" ")
    assert refused.value.field_errors == {"note": ["Say why the report is rejected."]}
    rejected = supervision.contractor_report_reject(report=report, actor=security, note="押印なし")
    assert rejected.outcome == ReportOutcome.REJECTED
    assert AuditEvent.objects.get(action="contractor_report.rejected").details["note"] == "押印なし"


def test_the_report_is_current_only_while_an_accepted_one_covers_the_day(firm, firm_user, security):
    report = _submit(firm_user, period_start=days(-10), period_end=days(10))
    assert not supervision.report_is_current(contractor=firm)
    supervision.contractor_report_accept(report=report, actor=security)
    assert supervision.report_is_current(contractor=firm)
    assert not supervision.report_is_current(contractor=firm, on=days(11))
    assert not supervision.report_is_current(contractor=firm, on=days(-11))


def test_an_audit_and_its_follow_up_are_recorded(firm, security):
    audit = supervision.contractor_audit_record(
        actor=security,
        contractor=firm,
        audited_on=days(-2),
        finding="誓約書の保管場所が施錠されていない",
        follow_up="施錠できる保管庫へ移す",
        follow_up_due=days(30),
    )
    with pytest.raises(InvalidInput):
        supervision.contractor_audit_follow_up_done(audit=audit, actor=security, note="")
    done = supervision.contractor_audit_follow_up_done(
        audit=audit, actor=security, note="保管庫を設置した"
    )
    assert done.follow_up_done_at is not None
    assert "保管庫を設置した" in done.follow_up
    assert AuditEvent.objects.filter(action="contractor_audit.follow_up_done").count() == 1


def test_an_audit_in_the_future_or_without_a_finding_is_refused(firm, security):
    with nothing_written(), pytest.raises(InvalidInput) as refused:
        supervision.contractor_audit_record(
            actor=security, contractor=firm, audited_on=days(1), finding=""
        )
    assert set(refused.value.field_errors) == {"audited_on", "finding"}


def test_a_training_with_its_undertaking_makes_the_operator_current_until_it_expires(
    firm, security
):
    training(firm, security, expires=10)
    assert supervision.training_is_current(contractor=firm, operator_name="山田太郎")
    assert supervision.training_is_current(contractor=firm, operator_name="山田　太郎")
    assert not supervision.training_is_current(contractor=firm, operator_name="山田")
    assert not supervision.training_is_current(contractor=firm, operator_name=OPERATOR, on=days(11))
    event = AuditEvent.objects.get(action="operator_training.recorded")
    assert event.details["operator"] == OPERATOR


def test_an_undertaking_signed_later_makes_the_training_current(firm, security):
    record = training(firm, security, signed=False)
    assert not supervision.training_is_current(contractor=firm, operator_name=OPERATOR)
    supervision.operator_undertaking_record(training=record, actor=security, signed_on=days(0))
    assert supervision.training_is_current(contractor=firm, operator_name=OPERATOR)
    assert AuditEvent.objects.filter(action="operator_training.undertaking_signed").count() == 1


def test_another_contractors_training_does_not_count(firm, contractor_org, security):
    training(contractor_org, security, "港 一郎")
    assert not supervision.training_is_current(contractor=firm, operator_name="港 一郎")


def test_a_training_with_bad_dates_is_refused(firm, security):
    with nothing_written(), pytest.raises(InvalidInput) as refused:
        supervision.operator_training_record(
            actor=security,
            contractor=firm,
            operator_name="",
            course="研修",
            completed_on=days(1),
            expires_on=days(0),
            undertaking_signed_on=days(2),
        )
    assert set(refused.value.field_errors) == {
        "operator_name",
        "completed_on",
        "expires_on",
        "undertaking_signed_on",
    }


def test_the_status_shows_each_operator_once_by_their_newest_training(firm, security):
    training(firm, security, expires=-5)
    training(firm, security, "山田太郎", expires=200)
    training(firm, security, "佐藤 花子", expires=20)
    training(firm, security, "鈴木 一郎", expires=-1)
    training(firm, security, "田中 三郎", signed=False)
    status = supervision.supervision_status(contractor=firm)
    states = {row["training"].operator_name: row["state"] for row in status["operators"]}
    assert states == {
        "山田太郎": "current",
        "佐藤 花子": "expiring",
        "鈴木 一郎": "expired",
        "田中 三郎": "missing",
    }
    assert status["report_state"] == "missing"
