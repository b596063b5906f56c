"""POST /api/v1/audit-reports/ (202, 400 with a message per field, 403), and a report read back
with its sections' CSV files, digests and verification."""

import hashlib

import pytest

from compliance.models import AuditReport, AuditReportSection
from tests.compliance.audit_reports.conftest import PRODUCED_AT, travel

URL = "/api/v1/audit-reports/"


def post(client, body):
    with travel(PRODUCED_AT):
        return client.post(URL, body, format="json")


def test_a_report_is_requested_and_read_with_its_csv_files(
    journey, api_as, auditor, django_capture_on_commit_callbacks
):
    client = api_as(auditor)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, {"period_start": "2026-11-10", "period_end": "2026-11-12"})
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["period_start"], body["period_end"], body["produced_by"]) == (
        "2026-11-10", "2026-11-12", "audrey",
    )  # fmt: skip

    detail = client.get(f"{URL}{body['id']}/").json()
    assert detail["status"] == "ready"
    assert detail["verification"]["unchanged"] is True
    assert detail["verification"]["recorded_digest"] == detail["digest"]
    names = [section["name"] for section in detail["sections"]]
    assert names[:3] == ["terminals", "terminal_movements", "loans"]
    loans = detail["sections"][2]
    assert loans["rows"] == 1
    assert hashlib.sha256(loans["csv"].encode("utf-8")).hexdigest() == loans["sha256"]
    assert "NW-00001" in loans["csv"]

    listed = client.get(URL).json()
    assert [report["id"] for report in listed["results"]] == [body["id"]]
    assert "sections" not in listed["results"][0]


def test_the_api_says_when_a_csv_file_was_edited(
    journey, api_as, security, django_capture_on_commit_callbacks
):
    client = api_as(security)
    with django_capture_on_commit_callbacks(execute=True):
        report_id = post(client, {"period_start": "2026-11-10", "period_end": "2026-11-12"}).json()[
            "id"
        ]
    section = AuditReportSection.objects.get(report_id=report_id, name="accounts")
    AuditReportSection.objects.filter(pk=section.pk).update(csv=section.csv.replace("sam", "eve"))

    verification = client.get(f"{URL}{report_id}/").json()["verification"]
    assert verification["unchanged"] is False
    assert verification["changed_sections"] == ["accounts"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "period_start"),
        ({"period_start": "2026-11-10"}, "period_end"),
        ({"period_start": "10/11/2026", "period_end": "2026-11-12"}, "period_start"),
        ({"period_start": "2026-11-12", "period_end": "2026-11-10"}, "period_end"),
        ({"period_start": "2026-11-25", "period_end": "2026-11-26"}, "period_start"),
        ({"period_start": "2024-01-01", "period_end": "2026-11-12"}, "period_end"),
    ],
)
def test_bad_input_answers_400_with_a_message_for_the_field(api_as, security, body, field):
    response = post(api_as(security), body)
    assert response.status_code == 400
    assert response.json()[field]
    assert not AuditReport.objects.exists()


@pytest.mark.parametrize("role", ["facilities", "contractor"])
def test_other_roles_are_refused(request, api_as, role):
    client = api_as(request.getfixturevalue(role))
    response = post(client, {"period_start": "2026-11-10", "period_end": "2026-11-12"})
    assert response.status_code == 403
    assert client.get(URL).status_code == 403
    assert not AuditReport.objects.exists()


def test_an_anonymous_caller_is_refused(api):
    assert api.get(URL).status_code == 401
