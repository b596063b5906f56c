"""Lending respects the supervision: a request names only trained operators, and a check-out is
refused (with the reason, like every other refusal) without a current report or training,
unless a security officer's exception during the declared disaster covers it."""

import datetime

import pytest
import time_machine
from django.utils import timezone

from core.errors import InvalidInput, RuleViolation
from core.models import AuditEvent
from lending import services, supervision
from lending.models import ContractorReport, Loan, OperatorTraining
from terminals.models import Terminal
from tests.lending.supervision.conftest import (
    OPERATOR,
    accepted_report,
    days,
    hand_out,
    submit,
    training,
)
from tests.support.db import nothing_written

# At request ------------------------------------------------------------------------------------


def test_a_request_naming_an_operator_with_no_training_is_refused_on_operators(
    firm, firm_user, security, declaration
):
    accepted_report(firm, security)
    with nothing_written(), pytest.raises(InvalidInput) as refused:
        submit(firm_user, declaration)
    assert refused.value.field_errors["operators"] == [f"{OPERATOR} has no training on record."]


def test_a_request_naming_an_operator_whose_training_lapsed_is_refused(
    firm, firm_user, security, declaration
):
    training(firm, security, expires=-1)
    with pytest.raises(InvalidInput) as refused:
        submit(firm_user, declaration)
    assert refused.value.field_errors["operators"] == [
        f"The training of {OPERATOR} lapsed on {days(-1).isoformat()}."
    ]


def test_a_request_naming_an_operator_who_has_not_signed_the_undertaking_is_refused(
    firm, firm_user, security, declaration
):
    training(firm, security, signed=False)
    with pytest.raises(InvalidInput) as refused:
        submit(firm_user, declaration)
    assert refused.value.field_errors["operators"] == [
        f"{OPERATOR} has not signed the undertaking on the use of personal data."
    ]


def test_each_untrained_operator_is_named_and_a_name_typed_otherwise_is_the_same_person(
    firm, firm_user, security, declaration
):
    training(firm, security)  # 山田 太郎
    with pytest.raises(InvalidInput) as refused:
        submit(firm_user, declaration, operators=["山田太郎", "佐藤 花子", "鈴木 一郎"])
    assert refused.value.field_errors["operators"] == [
        "佐藤 花子 has no training on record.",
        "鈴木 一郎 has no training on record.",
    ]


def test_the_request_api_refuses_an_untrained_operator_with_a_400_on_operators(
    api_as, firm, firm_user, security, declaration
):
    response = api_as(firm_user).post(
        "/api/v1/access-requests/",
        {
            "declaration": declaration.pk,
            "work_site": "館山市",
            "quantity": 1,
            "operators": ["佐藤 花子"],
            "purpose": "復旧",
            "needed_until": (timezone.now() + datetime.timedelta(days=1)).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 400
    assert "佐藤 花子 has no training on record." in str(response.json())


# At check-out ---------------------------------------------------------------------------------


def _refused(request, terminal, actor, name=OPERATOR, **more) -> list[str]:
    with pytest.raises(RuleViolation) as refused:
        hand_out(request, terminal, actor, name, **more)
    assert Terminal.objects.get(pk=terminal.pk).status == Terminal.Status.IN_STORAGE
    assert not Loan.objects.exists()
    return refused.value.reasons


def test_a_check_out_within_the_rules_goes_ahead_without_an_exception(
    approved, terminal, facilities
):
    loan = hand_out(approved, terminal, facilities)
    assert loan.supervision_exception is None
    event = AuditEvent.objects.get(action="loan.checked_out")
    assert "supervision_exception" not in event.details


def test_a_check_out_is_refused_when_the_contractor_has_no_report(
    approved, terminal, facilities, firm
):
    ContractorReport.objects.filter(contractor=firm).delete()
    reasons = _refused(approved, terminal, facilities)
    assert reasons == ["港工事 has no accepted yearly security report covering today."]
    assert reasons[0].url == f"/lending/supervision/{firm.code}/"


def test_a_check_out_is_refused_when_the_report_expired(approved, terminal, facilities, firm):
    ContractorReport.objects.filter(contractor=firm).update(
        period_start=days(-400), period_end=days(-1)
    )
    assert _refused(approved, terminal, facilities) == [
        f"The yearly security report of 港工事 expired on {days(-1).isoformat()}: a new one "
        "must be accepted first."
    ]


def test_a_report_awaiting_review_or_rejected_does_not_count(
    approved, terminal, facilities, firm, security
):
    ContractorReport.objects.filter(contractor=firm).delete()
    pending = supervision.contractor_report_submit(
        actor=security,
        contractor=firm,
        period_start=days(-1),
        period_end=days(300),
        answers={code: "yes" for code, _q in supervision.CHECKLIST},
    )
    assert len(_refused(approved, terminal, facilities)) == 1
    supervision.contractor_report_reject(report=pending, actor=security, note="署名がない")
    assert len(_refused(approved, terminal, facilities)) == 1


def test_a_check_out_is_refused_when_the_receiving_operators_training_lapsed(
    approved, terminal, facilities, firm
):
    # The training was current when the request was approved; days later it has lapsed.
    expires = OperatorTraining.objects.get(contractor=firm).expires_on
    with time_machine.travel(
        datetime.datetime.combine(expires + datetime.timedelta(days=1), datetime.time(12))
    ):
        ContractorReport.objects.filter(contractor=firm).update(period_end=days(1000))
        reasons = _refused(approved, terminal, facilities)
    assert reasons == [f"The training of {OPERATOR} lapsed on {expires.isoformat()}."]


def test_a_check_out_to_an_added_operator_without_the_undertaking_is_refused(
    approved, terminal, facilities, firm, security
):
    training(firm, security, "佐藤 花子", signed=False)
    reasons = _refused(approved, terminal, facilities, "佐藤 花子", operator_reason="交代要員")
    assert reasons == ["佐藤 花子 has not signed the undertaking on the use of personal data."]
    approved.refresh_from_db()
    assert approved.operators == [OPERATOR]  # nothing of the refused hand-out stays


def test_the_checkout_api_answers_409_with_the_supervision_reason(
    api_as, approved, terminal, facilities, firm
):
    ContractorReport.objects.filter(contractor=firm).delete()
    response = api_as(facilities).post(
        "/api/v1/loans/",
        {
            "request": approved.pk,
            "terminal": terminal.asset_tag,
            "operator_name": OPERATOR,
            "acknowledged_name": OPERATOR,
        },
        format="json",
    )
    assert response.status_code == 409
    assert (
        "港工事 has no accepted yearly security report covering today."
        in (response.json()["reasons"])
    )


# Exceptions -----------------------------------------------------------------------------------


def test_an_exception_for_the_report_lets_the_check_out_through_and_the_loan_records_it(
    approved, terminal, facilities, firm, security, declaration
):
    ContractorReport.objects.filter(contractor=firm).delete()
    exception = supervision.supervision_exception_grant(
        actor=security,
        declaration=declaration,
        contractor=firm,
        reason="報告書は郵送中",
        hours=12,
    )
    loan = hand_out(approved, terminal, facilities)
    assert Loan.objects.get(pk=loan.pk).supervision_exception == exception
    event = AuditEvent.objects.get(action="loan.checked_out")
    assert event.details["supervision_exception"] == exception.pk
    granted = AuditEvent.objects.get(action="supervision_exception.granted")
    assert granted.actor == security
    assert granted.details["reason"] == "報告書は郵送中"
    assert granted.details["covers"] == "report"


def test_an_exception_for_one_operator_covers_that_operator_only(
    approved, terminal, facilities, firm, security, declaration, cabinet
):
    supervision.supervision_exception_grant(
        actor=security,
        declaration=declaration,
        contractor=firm,
        operator_name="佐藤花子",  # typed without the space: the same person
        reason="研修は来週受講予定",
        hours=24,
    )
    loan = hand_out(approved, terminal, facilities, "佐藤 花子", operator_reason="交代要員")
    assert loan.supervision_exception is not None
    other = terminal.__class__.objects.create(
        asset_tag="NW-00002", location=cabinet, custodian=terminal.custodian, hostname="x"
    )
    with pytest.raises(RuleViolation) as refused:
        hand_out(approved, other, facilities, "鈴木 一郎", operator_reason="交代要員")
    assert "鈴木 一郎 has no training on record." in refused.value.reasons


def test_an_operator_excepted_may_be_named_in_a_request(firm, firm_user, security, declaration):
    accepted_report(firm, security)
    supervision.supervision_exception_grant(
        actor=security,
        declaration=declaration,
        contractor=firm,
        operator_name=OPERATOR,
        reason="研修は来週",
        hours=24,
    )
    assert submit(firm_user, declaration).operators == [OPERATOR]


def test_an_exception_ends_by_itself(approved, terminal, facilities, firm, security, declaration):
    ContractorReport.objects.filter(contractor=firm).delete()
    supervision.supervision_exception_grant(
        actor=security, declaration=declaration, contractor=firm, reason="郵送中", hours=2
    )
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=2, minutes=1)):
        reasons = _refused(approved, terminal, facilities)
    assert reasons == ["港工事 has no accepted yearly security report covering today."]


def test_an_exception_is_granted_only_during_an_active_disaster_declaration(
    firm, security, declaration
):
    services.declaration_lift(declaration=declaration, actor=security)
    with nothing_written(), pytest.raises(InvalidInput) as refused:
        supervision.supervision_exception_grant(
            actor=security, declaration=declaration, contractor=firm, reason="x", hours=1
        )
    assert refused.value.field_errors["declaration"] == [
        "An exception is granted only during a declared disaster."
    ]


@pytest.mark.parametrize("hours", [0, 73, None])
def test_an_exception_lasts_at_most_the_configured_hours(firm, security, declaration, hours):
    with nothing_written(), pytest.raises(InvalidInput) as refused:
        supervision.supervision_exception_grant(
            actor=security, declaration=declaration, contractor=firm, reason="x", hours=hours
        )
    assert refused.value.field_errors["hours"] == ["An exception lasts between 1 and 72 hours."]


def test_the_longest_exception_follows_the_setting(firm, security, declaration, settings):
    settings.SUPERVISION_EXCEPTION_MAX_HOURS = 4
    with pytest.raises(InvalidInput):
        supervision.supervision_exception_grant(
            actor=security, declaration=declaration, contractor=firm, reason="x", hours=5
        )
    exception = supervision.supervision_exception_grant(
        actor=security, declaration=declaration, contractor=firm, reason="x", hours=4
    )
    assert exception.expires_at - exception.granted_at == datetime.timedelta(hours=4)


def test_an_exception_needs_a_reason(firm, security, declaration):
    with pytest.raises(InvalidInput) as refused:
        supervision.supervision_exception_grant(
            actor=security, declaration=declaration, contractor=firm, reason=" ", hours=1
        )
    assert refused.value.field_errors["reason"] == ["A reason is required."]
