"""The discrepancy API: who may review, filters, assigning, resolving (with separation of
duties), evidence, and the policy checks on demand."""

import datetime

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from compliance import services as stocktakes
from compliance.models import Discrepancy, DiscrepancyEvidence, StockTake
from core.models import AuditEvent
from terminals.models import Terminal
from tests.factories import make_location, make_terminal, make_user
from tests.support.db import nothing_written

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"0" * 64


@pytest.fixture(autouse=True)
def _media_in_a_temporary_folder(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def api() -> APIClient:
    return APIClient(HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def second_cabinet(cabinet):
    return make_location(kind="cabinet", parent=cabinet.parent, code="hq-cab-2", name="保管庫2")


@pytest.fixture
def stocktake(site, cabinet, second_cabinet, facilities, security) -> StockTake:
    """Closed: B found in the wrong cabinet, C missing, GHOST-1 unknown. Facilities scanned."""
    for tag in ("A", "B", "C"):
        make_terminal(location=cabinet, asset_tag=tag)
    stocktake = stocktakes.stocktake_open(site=site, actor=security, reason="manual")
    for location, tag in ((cabinet, "A"), (second_cabinet, "B"), (cabinet, "GHOST-1")):
        stocktakes.scan_record(stocktake=stocktake, location=location, tag=tag, actor=facilities)
    return stocktakes.stocktake_close(stocktake=stocktake, actor=security)


def of_kind(stocktake: StockTake, kind: str) -> Discrepancy:
    return stocktake.discrepancies.get(kind=kind)


def url(discrepancy: Discrepancy, action: str = "") -> str:
    return f"/api/v1/discrepancies/{discrepancy.pk}/" + (f"{action}/" if action else "")


def upload(name: str, content: bytes, content_type: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


# Who may do what ------------------------------------------------------------------------------

# operation: (method, path under the discrepancy or None for the collection, body, events)
OPERATIONS = {
    "list": ("get", None, None, 0),
    "read": ("get", "", None, 0),
    "download evidence": ("get", "evidence/{evidence}", None, 0),
    "assign": ("post", "assign", {"assignee": "sam"}, 1),
    "resolve": ("post", "resolve", {"outcome": "found", "note": "棚の奥にあった"}, 1),
    "attach evidence": ("post", "evidence", "file", 1),
    # The one new finding in this world: the site has no completed stock-take.
    "run policy checks": ("post", "run-policy-checks", None, 1),
}
READS = ["list", "read", "download evidence"]
WRITES = ["assign", "resolve", "attach evidence", "run policy checks"]

EXPECTED = {
    "anonymous": dict.fromkeys(OPERATIONS, 401),
    "contractor": dict.fromkeys(OPERATIONS, 403),
    "facilities": {
        "list": 200,
        "read": 200,
        "download evidence": 403,
        **dict.fromkeys(WRITES, 403),
    },
    "security": {
        **dict.fromkeys(READS, 200),
        "assign": 200,
        "resolve": 200,
        "attach evidence": 201,
        "run policy checks": 200,
    },
    "auditor": {**dict.fromkeys(READS, 200), **dict.fromkeys(WRITES, 403)},
}


@pytest.fixture
def late(stocktake):
    """The site's last count was opened and closed long ago: the policy check finds it late."""
    long_ago = datetime.timedelta(days=stocktake.site.stocktake_interval_days + 60)
    StockTake.objects.filter(pk=stocktake.pk).update(
        opened_at=stocktake.opened_at - long_ago, due_at=stocktake.due_at - long_ago
    )
    return stocktake


@pytest.fixture
def world(late, security):
    stocktake = late
    missing = of_kind(stocktake, "missing")
    evidence = stocktakes.discrepancy_add_evidence(
        discrepancy=missing, actor=security, file=upload("shelf.png", PNG, "image/png")
    )
    return missing, evidence


@pytest.mark.parametrize(
    ("role", "operation"),
    [
        pytest.param(role, operation, id=f"{role}-{operation}")
        for role in EXPECTED
        for operation in OPERATIONS
    ],
)
def test_each_role_gets_the_expected_answer(request, api, world, role, operation):
    discrepancy, evidence = world
    method, path, body, events = OPERATIONS[operation]
    expected = EXPECTED[role][operation]
    if role != "anonymous":
        api.force_login(request.getfixturevalue(role))
    before = AuditEvent.objects.count()

    if path is None:
        target = "/api/v1/discrepancies/"
    elif path.startswith("run-"):
        target = f"/api/v1/discrepancies/{path}/"
    else:
        target = url(discrepancy, path.format(evidence=evidence.pk))

    def send():
        if body == "file":
            return api.post(
                target, {"file": upload("photo.png", PNG, "image/png")}, format="multipart"
            )
        return getattr(api, method)(target, body, format="json")

    if expected in (200, 201):
        response = send()
        assert response.status_code == expected, response.content
        assert AuditEvent.objects.count() == before + events
    else:
        with nothing_written(Discrepancy, DiscrepancyEvidence, StockTake):
            response = send()
        assert response.status_code == expected, response.content


# Listing and filters --------------------------------------------------------------------------


def subjects(client, **filters) -> list[str]:
    response = client.get("/api/v1/discrepancies/", filters)
    assert response.status_code == 200, response.content
    return sorted(d["subject"] for d in response.json()["results"])


def test_closing_lists_each_discrepancy_with_its_site_and_allowed_outcomes(
    api_as, security, stocktake
):
    results = api_as(security).get("/api/v1/discrepancies/").json()["results"]

    by_kind = {d["kind"]: d for d in results}
    assert set(by_kind) == {"found_elsewhere", "missing", "unknown_tag"}
    missing = by_kind["missing"]
    assert (missing["subject"], missing["site"], missing["location"], missing["terminal"]) == (
        "C",
        "hq",
        "hq-cab-1",
        "C",
    )
    assert (missing["status"], missing["stocktake"]) == ("open", stocktake.pk)
    assert missing["allowed_outcomes"] == ["found", "lost_or_stolen", "written_off"]


def test_the_list_filters_by_kind_status_stocktake_and_site(api_as, security, stocktake, operator):
    branch = make_location(code="branch", name="支店", custodian=operator)
    other = stocktakes.stocktake_open(site=branch, actor=security, reason="manual")
    stocktakes.scan_record(stocktake=other, location=branch, tag="GHOST-2", actor=security)
    stocktakes.stocktake_close(stocktake=other, actor=security)
    client = api_as(security)

    assert subjects(client, kind="unknown_tag") == ["GHOST-1", "GHOST-2"]
    assert subjects(client, kind=["missing", "found_elsewhere"]) == ["B", "C"]
    assert subjects(client, stocktake=other.pk) == ["GHOST-2"]
    assert subjects(client, site="branch") == ["GHOST-2"]
    assert subjects(client, site="hq") == ["B", "C", "GHOST-1"]
    assert subjects(client, status="resolved") == []


def test_the_site_filter_finds_policy_findings_by_their_location(api_as, security, late):
    api_as(security).post("/api/v1/discrepancies/run-policy-checks/")

    assert subjects(api_as(security), site="hq", kind="stocktake_overdue") == ["hq"]


def test_the_list_filters_by_assignee(api_as, security, stocktake, operator):
    make_user("rei", "security", operator)
    client = api_as(security)
    client.post(url(of_kind(stocktake, "missing"), "assign"), {"assignee": "rei"}, format="json")

    assert subjects(client, assignee="rei") == ["C"]
    assert subjects(client, unassigned=True) == ["B", "GHOST-1"]


def test_the_list_filters_by_age(api_as, security, stocktake, cabinet, facilities):
    later = datetime.datetime(2031, 4, 1, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(later, tick=False):
        again = stocktakes.stocktake_open(
            site=stocktake.site, actor=security, reason="manual", due_days=30
        )
        stocktakes.scan_record(stocktake=again, location=cabinet, tag="GHOST-9", actor=facilities)
        stocktakes.stocktake_close(stocktake=again, actor=security)
    client = api_as(security)

    assert subjects(client, opened_after="2031-04-01T00:00:00Z") == ["A", "B", "C", "GHOST-9"]
    assert subjects(client, opened_before="2031-04-01T00:00:00Z") == ["B", "C", "GHOST-1"]
    bad = client.get("/api/v1/discrepancies/", {"opened_before": "last week"})
    assert bad.status_code == 400
    assert "opened_before" in bad.json()


# Assigning ------------------------------------------------------------------------------------


def test_a_discrepancy_is_assigned_to_a_security_officer_and_unassigned(
    api_as, security, stocktake, operator
):
    make_user("rei", "security", operator)
    missing = of_kind(stocktake, "missing")
    client = api_as(security)

    assigned = client.post(url(missing, "assign"), {"assignee": "rei"}, format="json")
    unassigned = client.post(url(missing, "assign"), {"assignee": None}, format="json")

    assert assigned.status_code == 200
    assert assigned.json()["assignee"] == "rei"
    assert unassigned.json()["assignee"] is None
    assert AuditEvent.objects.filter(action="discrepancy.assigned").count() == 2


def test_only_a_security_officer_can_be_the_assignee(api_as, security, facilities, stocktake):
    missing = of_kind(stocktake, "missing")

    with nothing_written(missing):
        response = api_as(security).post(
            url(missing, "assign"), {"assignee": facilities.username}, format="json"
        )

    assert response.status_code == 400
    assert response.json()["assignee"] == ["No active security officer is called fiona."]


# Resolving ------------------------------------------------------------------------------------


def resolve(client, discrepancy, **body):
    return client.post(url(discrepancy, "resolve"), body, format="json")


def test_an_outcome_that_does_not_fit_the_kind_is_refused(api_as, security, stocktake):
    missing = of_kind(stocktake, "missing")

    with nothing_written(missing):
        response = resolve(api_as(security), missing, outcome="relocated", note="移した")

    assert response.status_code == 400
    assert response.json()["outcome"] == ["This outcome does not fit this kind of discrepancy."]


def test_an_outcome_that_does_not_exist_is_refused(api_as, security, stocktake):
    missing = of_kind(stocktake, "missing")

    with nothing_written(missing):
        response = resolve(api_as(security), missing, outcome="shrug", note="x")

    assert response.status_code == 400
    assert "outcome" in response.json()


def test_a_resolution_without_a_note_is_refused(api_as, security, stocktake):
    missing = of_kind(stocktake, "missing")

    with nothing_written(missing):
        no_note = resolve(api_as(security), missing, outcome="found")
        blank = resolve(api_as(security), missing, outcome="found", note="   ")

    for response in (no_note, blank):
        assert response.status_code == 400
        assert response.json()["note"] == ["A note is required."]


def test_whoever_scanned_the_stocktake_cannot_resolve_its_discrepancies(
    api_as, security, stocktake, cabinet, operator
):
    helper = make_user("rei", "security", operator)
    again = stocktakes.stocktake_open(site=stocktake.site, actor=security, reason="manual")
    # A security officer helped scanning (through the service: the API lets only staff scan).
    stocktakes.scan_record(stocktake=again, location=cabinet, tag="GHOST-7", actor=helper)
    stocktakes.stocktake_close(stocktake=again, actor=security)
    unknown = of_kind(again, "unknown_tag")

    with nothing_written(unknown, again):
        refused = resolve(api_as(helper), unknown, outcome="found", note="自分で見た")

    assert refused.status_code == 409
    assert refused.json()["reasons"] == [
        "You scanned this stock-take, so someone else must resolve its discrepancies."
    ]
    assert resolve(api_as(security), unknown, outcome="found", note="確認済").status_code == 200


def test_resolving_writes_one_event_and_a_second_time_is_refused(api_as, security, stocktake):
    missing = of_kind(stocktake, "missing")
    client = api_as(security)

    response = resolve(client, missing, outcome="found", note="棚の奥にあった")

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["outcome"], body["resolution_note"], body["resolved_by"]) == (
        "resolved",
        "found",
        "棚の奥にあった",
        "sam",
    )
    assert AuditEvent.objects.filter(action="discrepancy.resolved").count() == 1
    with nothing_written(missing, stocktake):
        again = resolve(client, missing, outcome="found", note="もう一度")
    assert again.status_code == 409
    assert again.json()["reasons"] == ["This discrepancy is already resolved."]


def test_resolving_the_last_discrepancy_completes_the_stocktake(api_as, security, stocktake):
    client = api_as(security)
    resolve(client, of_kind(stocktake, "missing"), outcome="lost_or_stolen", note="盗難届提出")
    resolve(client, of_kind(stocktake, "found_elsewhere"), outcome="relocated", note="移した")
    stocktake.refresh_from_db()
    assert stocktake.status == StockTake.Status.CLOSED

    resolve(client, of_kind(stocktake, "unknown_tag"), outcome="written_off", note="他社の札")

    stocktake.refresh_from_db()
    assert stocktake.status == StockTake.Status.COMPLETED
    assert Terminal.objects.get(asset_tag="C").status == Terminal.Status.LOST
    assert Terminal.objects.get(asset_tag="B").location.code == "hq-cab-2"
    detail = client.get(f"/api/v1/stocktakes/{stocktake.pk}/").json()
    assert detail["status"] == "completed"


def test_an_orphan_account_is_deleted_on_its_target_once_however_often_it_is_resolved(
    api_as, security, monkeypatch
):
    from credentials.connectors.local import LocalConnector
    from credentials.targets import target_system_create

    target_system_create(actor=None, code="cc", name="CC", connector="local")
    deleted = []
    monkeypatch.setattr(LocalConnector, "delete", lambda self, login_id: deleted.append(login_id))
    # As the policy check records it (it lists login IDs only on directory targets).
    orphan = Discrepancy.objects.create(
        kind="orphan_account",
        subject="cc:leftover01",
        details={"target_system": "cc", "login_id": "leftover01"},
    )
    client = api_as(security)

    first = resolve(client, orphan, outcome="orphan_deleted", note="削除漏れID")
    with nothing_written(orphan):
        second = resolve(client, orphan, outcome="orphan_deleted", note="もう一度")

    assert (first.status_code, second.status_code) == (200, 409)
    assert deleted == ["leftover01"]


# Evidence -------------------------------------------------------------------------------------


def attach(client, discrepancy, file):
    return client.post(url(discrepancy, "evidence"), {"file": file}, format="multipart")


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [("shelf.png", PNG, "image/png"), ("police-report.pdf", PDF, "application/pdf")],
)
def test_a_photo_or_a_pdf_is_attached_and_can_be_downloaded(
    api_as, security, stocktake, name, content, content_type
):
    missing = of_kind(stocktake, "missing")
    client = api_as(security)

    response = attach(client, missing, upload(name, content, content_type))

    assert response.status_code == 201, response.content
    assert (response.json()["name"], response.json()["uploaded_by"]) == (name, "sam")
    event = AuditEvent.objects.get(action="discrepancy.evidence_added")
    assert event.details["size"] == len(content)
    listed = client.get(url(missing)).json()["evidence"]
    assert [e["name"] for e in listed] == [name]
    download = client.get(url(missing, f"evidence/{listed[0]['id']}"))
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == content
    assert "attachment" in download["Content-Disposition"]


def test_a_file_over_20_mb_is_refused(api_as, security, stocktake):
    too_big = upload("scan.pdf", b"%PDF-" + b"0" * (20 * 1024 * 1024 - 4), "application/pdf")
    missing = of_kind(stocktake, "missing")

    with nothing_written(missing):
        response = attach(api_as(security), missing, too_big)

    assert response.status_code == 400
    assert response.json()["file"] == ["The file is larger than 20 MB."]


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("notes.txt", b"just text", "text/plain"),
        # Named and typed as a photo, but it is a page a browser would run.
        ("photo.png", b"<html><script>alert(1)</script>", "image/png"),
    ],
)
def test_a_file_that_is_not_a_photo_or_a_pdf_is_refused(
    api_as, security, stocktake, name, content, content_type
):
    missing = of_kind(stocktake, "missing")

    with nothing_written(missing):
        response = attach(api_as(security), missing, upload(name, content, content_type))

    assert response.status_code == 400
    assert response.json()["file"] == ["Attach a photo (JPEG, PNG, GIF, WebP, HEIC) or a PDF."]


def test_evidence_of_another_discrepancy_is_not_found_here(api_as, security, stocktake, world):
    _missing, evidence = world

    response = api_as(security).get(
        url(of_kind(stocktake, "unknown_tag"), f"evidence/{evidence.pk}")
    )

    assert response.status_code == 404


# Policy checks on demand ----------------------------------------------------------------------


def test_running_the_policy_checks_twice_records_no_duplicates(api_as, security, late, open_room):
    make_terminal(location=open_room, asset_tag="LOBBY-1")  # outside a secured location
    client = api_as(security)

    first = client.post("/api/v1/discrepancies/run-policy-checks/")
    second = client.post("/api/v1/discrepancies/run-policy-checks/")

    assert first.status_code == 200
    assert first.json() == {
        "recorded": {"outside_secured_location": 1, "stocktake_overdue": 1},
        "total": 2,
    }
    assert second.json() == {"recorded": {}, "total": 0}
    assert Discrepancy.objects.filter(stocktake__isnull=True).count() == 2


# Query counts ---------------------------------------------------------------------------------

# Session, user, the user's and the groups' permissions, count, page, the page's evidence.
MAX_QUERIES = 7


@pytest.mark.parametrize("rows", [10, 100])
def test_the_discrepancy_list_costs_the_same_queries_for_10_or_100(
    api_as, auditor, security, facilities, site, cabinet, rows, django_assert_max_num_queries
):
    stocktake = stocktakes.stocktake_open(site=site, actor=security, reason="manual")
    for n in range(rows):
        stocktakes.scan_record(
            stocktake=stocktake, location=cabinet, tag=f"GHOST-{n}", actor=facilities
        )
    stocktakes.stocktake_close(stocktake=stocktake, actor=security)
    for discrepancy in stocktake.discrepancies.all()[::3]:
        stocktakes.discrepancy_assign(discrepancy=discrepancy, actor=security, assignee=security)
        stocktakes.discrepancy_add_evidence(
            discrepancy=discrepancy, actor=security, file=upload("p.png", PNG, "image/png")
        )
    client = api_as(auditor)

    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get("/api/v1/discrepancies/")

    assert response.status_code == 200
    assert response.json()["count"] == rows
