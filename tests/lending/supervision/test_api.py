"""/api/v1/contractor-reports/, /api/v1/operator-trainings/ and /api/v1/supervision-exceptions/:
201 with the record, 400 with a message per field, 403 for a role without the permission, and a
contractor's users see only their own organization's records."""

import json

from django.core.files.uploadedfile import SimpleUploadedFile

from core.models import AuditEvent
from lending import supervision
from lending.models import ContractorReport, ReportOutcome
from tests.lending.supervision.conftest import days, training
from tests.support.db import nothing_written

YES = {code: "yes" for code, _question in supervision.CHECKLIST}


def _report_body(**changes):
    return {
        "period_start": days(0).isoformat(),
        "period_end": days(364).isoformat(),
        "answers": YES,
        **changes,
    }


def test_a_contractors_user_submits_their_report_201(api_as, firm_user, firm):
    response = api_as(firm_user).post("/api/v1/contractor-reports/", _report_body(), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["contractor"] == firm.code
    assert response.json()["outcome"] == "pending"


def test_a_report_with_its_file_goes_as_multipart(api_as, firm_user, firm):
    response = api_as(firm_user).post(
        "/api/v1/contractor-reports/",
        {
            **_report_body(answers=json.dumps(YES)),
            "file": SimpleUploadedFile("report.pdf", b"%PDF-1.4\n"),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    assert response.json()["has_file"] is True


def test_a_bad_report_answers_400_per_field(api_as, firm_user, contractor_org):
    with nothing_written():
        response = api_as(firm_user).post(
            "/api/v1/contractor-reports/",
            _report_body(contractor=contractor_org.code, answers={"policy": "yes"}),
            format="json",
        )
    assert response.status_code == 400
    body = response.json()
    assert body["contractor"] == ["You can submit reports only for your own organization."]
    assert body["answers"] == ["Answer every question of the checklist with yes or no."]


def test_facilities_may_not_submit_a_report_403(api_as, facilities, firm):
    response = api_as(facilities).post(
        "/api/v1/contractor-reports/", _report_body(contractor=firm.code), format="json"
    )
    assert response.status_code == 403


def test_security_reviews_a_report(api_as, security, firm_user, firm):
    report = supervision.contractor_report_submit(
        actor=firm_user,
        contractor=firm,
        period_start=days(0),
        period_end=days(300),
        answers=YES,
    )
    client = api_as(security)
    url = f"/api/v1/contractor-reports/{report.pk}/review/"
    refused = client.post(url, {"decision": "reject"}, format="json")
    assert refused.status_code == 400 and refused.json()["note"]
    accepted = client.post(url, {"decision": "accept", "note": "OK"}, format="json")
    assert accepted.status_code == 200
    assert accepted.json()["outcome"] == "accepted"
    again = client.post(url, {"decision": "reject", "note": "x"}, format="json")
    assert again.status_code == 409
    assert ContractorReport.objects.get().outcome == ReportOutcome.ACCEPTED


def test_a_contractor_may_not_review_its_own_report_403(api_as, firm_user, firm):
    report = supervision.contractor_report_submit(
        actor=firm_user, contractor=firm, period_start=days(0), period_end=days(3), answers=YES
    )
    response = api_as(firm_user).post(
        f"/api/v1/contractor-reports/{report.pk}/review/", {"decision": "accept"}, format="json"
    )
    assert response.status_code == 403


def test_a_contractor_lists_only_its_own_reports_and_trainings(
    api_as, firm_user, firm, contractor_org, security
):
    training(firm, security)
    client = api_as(firm_user)
    reports = client.get("/api/v1/contractor-reports/").json()["results"]
    assert reports == []  # the factories' report is kanto-denko's
    trainings = client.get("/api/v1/operator-trainings/").json()["results"]
    assert [t["contractor"] for t in trainings] == [firm.code]
    other = ContractorReport.objects.get(contractor=contractor_org)
    assert client.get(f"/api/v1/contractor-reports/{other.pk}/").status_code == 404


def test_security_records_a_training_201_and_bad_dates_400(api_as, security, firm):
    client = api_as(security)
    created = client.post(
        "/api/v1/operator-trainings/",
        {
            "contractor": firm.code,
            "operator_name": "港 一郎",
            "course": "研修",
            "completed_on": days(-1).isoformat(),
            "expires_on": days(300).isoformat(),
            "undertaking_signed_on": days(-1).isoformat(),
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["current"] is True
    refused = client.post(
        "/api/v1/operator-trainings/",
        {"contractor": firm.code, "operator_name": "", "course": "研修"},
        format="json",
    )
    assert refused.status_code == 400
    assert set(refused.json()) >= {"operator_name", "completed_on", "expires_on"}


def test_a_contractor_may_not_record_a_training_403(api_as, firm_user, firm):
    response = api_as(firm_user).post(
        "/api/v1/operator-trainings/", {"contractor": firm.code}, format="json"
    )
    assert response.status_code == 403


def test_security_grants_an_exception_201_audited(api_as, security, firm, declaration):
    response = api_as(security).post(
        "/api/v1/supervision-exceptions/",
        {
            "declaration": declaration.pk,
            "contractor": firm.code,
            "reason": "報告書は郵送中",
            "hours": 12,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["granted_by"] == security.username
    assert AuditEvent.objects.filter(action="supervision_exception.granted").count() == 1


def test_an_exception_for_too_long_answers_400(api_as, security, firm, declaration):
    response = api_as(security).post(
        "/api/v1/supervision-exceptions/",
        {"declaration": declaration.pk, "contractor": firm.code, "reason": "x", "hours": 100},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["hours"] == ["An exception lasts between 1 and 72 hours."]


def test_facilities_may_not_grant_an_exception_403(api_as, facilities, firm, declaration):
    response = api_as(facilities).post(
        "/api/v1/supervision-exceptions/",
        {"declaration": declaration.pk, "contractor": firm.code, "reason": "x", "hours": 1},
        format="json",
    )
    assert response.status_code == 403
