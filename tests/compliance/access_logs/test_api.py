"""POST /api/v1/access-logs/ (a file or lines: 202), its refusals (400 on a field), the
ingestions with their counts, and GET /api/v1/sign-ins/ with its filters."""

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from compliance.models import AccessLogIngestion, SignInEvent
from credentials.accounts import account_create
from credentials.models import LoginIdRecord
from tests.compliance.access_logs.conftest import HEADER, ingest
from tests.factories import make_terminal
from tests.support.db import nothing_written

URL = "/api/v1/access-logs/"
SIGN_INS = "/api/v1/sign-ins/"
LINE = "2026-11-20T10:00:00+09:00,nwabc123,success,,192.0.2.1"


def test_lines_sent_as_json_are_queued_with_202_and_read(api_as, security, target, settings):
    response = api_as(security).post(
        URL,
        {"target": "callcenter", "format": "csv", "lines": [HEADER.strip(), LINE]},
        format="json",
    )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["target"], body["status"], body["source"]) == ("callcenter", "queued", "api")
    ingestion = AccessLogIngestion.objects.get(pk=body["id"])
    assert ingestion.created_by == security
    assert ingestion.file  # kept for the worker


def test_a_file_sent_as_multipart_is_queued(api_as, security, target):
    upload = SimpleUploadedFile("export.csv", (HEADER + LINE + "\n").encode(), "text/csv")
    response = api_as(security).post(
        URL, {"target": "callcenter", "format": "csv", "file": upload}, format="multipart"
    )
    assert response.status_code == 202, response.json()
    assert response.json()["file_name"] == "export.csv"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"target": "nowhere", "format": "csv", "lines": ["a"]}, "target"),
        ({"target": "callcenter", "format": "xml", "lines": ["a"]}, "format"),
        ({"target": "callcenter", "format": "csv"}, "file"),
        ({"target": "callcenter", "format": "csv", "lines": []}, "lines"),
        ({"target": "callcenter", "format": "csv", "lines": ["a\nb"]}, "lines"),
        ({"target": "callcenter", "format": "csv", "lines": [1, {"x": 2}]}, "lines"),
        ({"target": "callcenter", "format": "csv", "lines": ["when,who", "x,y"]}, "file"),
    ],
    ids=["unknown target", "format", "nothing", "no lines", "line break", "not text", "header"],
)
def test_bad_input_is_a_400_on_its_field_and_writes_nothing(api_as, security, target, body, field):
    client = api_as(security)
    with nothing_written():
        response = client.post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()


def test_a_binary_file_is_refused_with_400(api_as, security, target):
    upload = SimpleUploadedFile("x.gz", b"\x1f\x8b\x08\x00" + bytes(300), "application/gzip")
    with nothing_written():
        response = api_as(security).post(
            URL, {"target": "callcenter", "format": "csv", "file": upload}, format="multipart"
        )
    assert response.status_code == 400
    assert "not text" in str(response.json()["file"])


def test_auditors_read_ingestions_but_cannot_send_logs(api_as, auditor, target):
    done = ingest(target, HEADER + LINE + "\nbad,nwx,ok,,\n")
    client = api_as(auditor)
    listed = client.get(URL).json()["results"]
    assert [(i["id"], i["accepted"], i["malformed"]) for i in listed] == [(done.pk, 1, 1)]
    detail = client.get(f"{URL}{done.pk}/").json()
    assert detail["problems"] == [{"line": 3, "reason": detail["problems"][0]["reason"]}]
    refused = client.post(URL, {"target": "callcenter", "format": "csv", "lines": ["x"]})
    assert refused.status_code == 403


@pytest.fixture
def history(target, cabinet):
    """NW-00001's account had nwold0001 until noon UTC on the 20th, then nwnew0001."""
    terminal = make_terminal(location=cabinet, asset_tag="NW-00001")
    account = account_create(actor=None, target_system=target, terminal=terminal)
    LoginIdRecord.objects.filter(account=account).delete()
    noon = datetime.datetime(2026, 11, 20, 12, 0, tzinfo=datetime.UTC)
    LoginIdRecord.objects.create(
        account=account,
        login_id="nwold0001",
        valid_from=noon - datetime.timedelta(days=9),
        valid_until=noon,
    )
    LoginIdRecord.objects.create(account=account, login_id="nwnew0001", valid_from=noon)
    ingest(
        target,
        HEADER
        + "2026-11-20T11:00:00Z,nwold0001,success,,\n"  # valid: NW-00001's
        + "2026-11-20T13:00:00Z,nwold0001,failure,,\n"  # rotated away: nobody's
        + "2026-11-20T13:30:00Z,NWNEW0001,success,,\n"  # valid, written in upper case
        + "2026-11-20T14:00:00Z,nwother99,success,,\n",
    )
    return terminal


def ids(response) -> list[tuple[str, str]]:
    assert response.status_code == 200, response.json()
    return sorted((e["login_id"], e["occurred_at"][11:16]) for e in response.json()["results"])


def test_sign_ins_filter_by_terminal_through_the_login_id_valid_at_each_moment(
    api_as, auditor, history
):
    client = api_as(auditor)
    assert ids(client.get(SIGN_INS, {"terminal": "nw-00001"})) == [
        ("nwnew0001", "22:30"),  # shown in Tokyo time
        ("nwold0001", "20:00"),
    ]


def test_sign_ins_filter_by_login_id_result_and_period(api_as, auditor, history):
    client = api_as(auditor)
    assert len(ids(client.get(SIGN_INS, {"login_id": "NWOLD0001"}))) == 2
    assert ids(client.get(SIGN_INS, {"result": "failure"})) == [("nwold0001", "22:00")]
    within = client.get(
        SIGN_INS,
        {"from": "2026-11-20T13:00:00Z", "to": "2026-11-20T14:00:00Z", "target": "callcenter"},
    )
    assert ids(within) == [("nwnew0001", "22:30"), ("nwold0001", "22:00")]


@pytest.mark.parametrize(
    "params",
    [{"target": "nowhere"}, {"from": "yesterday"}, {"result": "maybe"}, {"loan": "x"}],
)
def test_bad_sign_in_filters_are_a_400(api_as, auditor, target, params):
    response = api_as(auditor).get(SIGN_INS, params)
    assert response.status_code == 400
    assert response.json()


def test_sign_ins_are_not_for_facilities_or_contractors(api_as, facilities, contractor, target):
    assert api_as(facilities).get(SIGN_INS).status_code == 403
    assert api_as(contractor).get(SIGN_INS).status_code == 403
    assert SignInEvent.objects.count() == 0
