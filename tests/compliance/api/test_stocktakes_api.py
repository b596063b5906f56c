"""The stock-take API: who may do what, blind counts, each scan's answer, progress, closing and
the report."""

import csv
import io

import pytest
from rest_framework.test import APIClient

from compliance import services as stocktakes
from compliance.models import Scan, StockTake
from core.models import AuditEvent
from terminals import services
from terminals.models import Terminal
from tests.factories import make_location, make_terminal, make_user
from tests.support.db import nothing_written


@pytest.fixture
def api() -> APIClient:
    """Answers in English; the Japanese default is checked where it shows (the report)."""
    return APIClient(HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def second_cabinet(cabinet):
    return make_location(kind="cabinet", parent=cabinet.parent, code="hq-cab-2", name="保管庫2")


@pytest.fixture
def counted(cabinet, second_cabinet):
    """A, B and C in cabinet 1, D in cabinet 2, LENT out on loan."""
    for tag in ("A", "B", "C"):
        make_terminal(location=cabinet, asset_tag=tag)
    make_terminal(location=second_cabinet, asset_tag="D")
    lent = make_terminal(location=cabinet, asset_tag="LENT")
    services.terminal_reserve(terminal=lent, actor=None)
    services.terminal_lend(terminal=lent, actor=None)


@pytest.fixture
def stocktake(site, counted, security) -> StockTake:
    return stocktakes.stocktake_open(site=site, actor=security, reason="manual")


def url(stocktake: StockTake, action: str = "") -> str:
    return f"/api/v1/stocktakes/{stocktake.pk}/" + (f"{action}/" if action else "")


def scan_as(client, stocktake, location: str, tag: str):
    return client.post(url(stocktake, "scans"), {"location": location, "tag": tag}, format="json")


# Who may do what ------------------------------------------------------------------------------

# operation: (method, path under the stock-take or None for the collection, body, events written)
OPERATIONS = {
    "list": ("get", None, None, 0),
    "read": ("get", "", None, 0),
    "list scans": ("get", "scans", None, 0),
    "expected list": ("get", "expected", None, 0),
    "report": ("get", "report", None, 0),
    "open": ("post", None, {"site": "north"}, 1),
    "scan": ("post", "scans", {"location": "hq-cab-1", "tag": "B"}, 1),
    "undo": ("post", "undo", None, 1),
    "close": ("post", "close", None, 1),
}
READS = ["list", "read", "list scans", "expected list", "report"]
WRITES = ["open", "scan", "undo", "close"]

EXPECTED = {
    "anonymous": dict.fromkeys(OPERATIONS, 401),
    "contractor": dict.fromkeys(OPERATIONS, 403),
    # The count is blind: the scanning staff do not see the expected list.
    "facilities": {
        **dict.fromkeys(READS, 200),
        "expected list": 403,
        "open": 403,
        "scan": 201,
        "undo": 200,
        "close": 403,
    },
    "security": {**dict.fromkeys(READS, 200), "open": 201, "scan": 403, "undo": 403, "close": 200},
    "auditor": {**dict.fromkeys(READS, 200), **dict.fromkeys(WRITES, 403)},
}


@pytest.fixture
def world(stocktake, cabinet, facilities, operator):
    make_location(code="north", name="北支店", custodian=operator)
    stocktakes.scan_record(stocktake=stocktake, location=cabinet, tag="A", actor=facilities)
    return stocktake


@pytest.mark.parametrize(
    ("role", "operation"),
    [
        pytest.param(role, operation, id=f"{role}-{operation}")
        for role in EXPECTED
        for operation in OPERATIONS
    ],
)
def test_each_role_gets_the_expected_answer(request, api, world, role, operation):
    method, path, body, events = OPERATIONS[operation]
    expected = EXPECTED[role][operation]
    if role != "anonymous":
        api.force_login(request.getfixturevalue(role))
    before = AuditEvent.objects.count()

    target = "/api/v1/stocktakes/" if path is None else url(world, path)
    if expected in (200, 201):
        response = getattr(api, method)(target, body, format="json")
        assert response.status_code == expected, response.content
        assert AuditEvent.objects.count() == before + events
    else:
        with nothing_written(StockTake, Scan):
            response = getattr(api, method)(target, body, format="json")
        assert response.status_code == expected, response.content


def test_a_refused_read_of_a_stocktake_reveals_nothing(api_as, contractor, stocktake):
    response = api_as(contractor).get(url(stocktake, "scans"))

    assert response.status_code == 403
    assert "hq-cab-1" not in response.content.decode()


# Opening --------------------------------------------------------------------------------------


def test_a_security_officer_opens_a_blind_stocktake_of_a_site(api_as, security, site, counted):
    response = api_as(security).post("/api/v1/stocktakes/", {"site": "hq"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["site"], body["status"], body["reason"], body["blind"]) == (
        "hq",
        "open",
        "manual",
        True,
    )
    assert (body["progress"]["found"], body["progress"]["expected"]) == (0, 4)
    assert body["summary"] is None
    assert body["opened_by"] == security.username


def test_a_second_open_stocktake_of_a_site_is_refused_with_the_reason(api_as, security, stocktake):
    with nothing_written(stocktake):
        response = api_as(security).post("/api/v1/stocktakes/", {"site": "hq"}, format="json")

    assert response.status_code == 409
    assert response.json()["reasons"] == ["A stock-take of 本店 is already open."]


def test_only_a_site_can_be_counted(api_as, security, cabinet):
    with nothing_written():
        response = api_as(security).post(
            "/api/v1/stocktakes/", {"site": "hq-cab-1", "blind": False}, format="json"
        )

    assert response.status_code == 400
    assert response.json()["site"] == ["Choose a site."]


def test_the_list_filters_by_site_and_status(api_as, auditor, stocktake, security, operator):
    branch = make_location(code="branch", name="支店", custodian=operator)
    closed = stocktakes.stocktake_open(site=branch, actor=security, reason="manual")
    stocktakes.stocktake_close(stocktake=closed, actor=security)  # nothing expected: complete
    client = api_as(auditor)

    by_site = client.get("/api/v1/stocktakes/", {"site": "branch"}).json()["results"]
    by_status = client.get("/api/v1/stocktakes/", {"status": "open"}).json()["results"]

    assert [(s["site"], s["status"]) for s in by_site] == [("branch", "completed")]
    assert [s["id"] for s in by_status] == [stocktake.pk]


# Scanning -------------------------------------------------------------------------------------


def test_each_scan_answers_at_once_what_it_means(api_as, facilities, stocktake):
    client = api_as(facilities)

    results = [
        scan_as(client, stocktake, "hq-cab-1", tag).json()["result"]
        for tag in ("A", "A", "D", "LENT", "NO-SUCH-TAG")
    ]

    assert results == [
        "expected_here",
        "repeated",
        "belongs_elsewhere",
        "recorded_as_lent",
        "unknown",
    ]
    assert Terminal.objects.get(asset_tag="D").location.code == "hq-cab-2"  # reported, not moved


def test_a_scan_answers_with_the_tag_the_terminal_and_who_scanned(api_as, facilities, stocktake):
    response = scan_as(api_as(facilities), stocktake, "hq-cab-1", " A ")

    assert response.status_code == 201
    body = response.json()
    assert (body["tag"], body["terminal"], body["location"], body["scanned_by"]) == (
        "A",
        "A",
        "hq-cab-1",
        facilities.username,
    )
    assert body["result_label"] == "Expected here"


def test_a_scan_with_no_tag_or_outside_the_site_is_refused_per_field(
    api_as, facilities, stocktake, operator
):
    make_location(code="branch", custodian=operator)
    client = api_as(facilities)

    with nothing_written(stocktake):
        blank = scan_as(client, stocktake, "hq-cab-1", "  ")
        elsewhere = scan_as(client, stocktake, "branch", "A")
        nowhere = scan_as(client, stocktake, "no-such-place", "A")

    assert blank.status_code == 400
    assert blank.json()["tag"] == ["Scan or type an asset tag."]
    assert elsewhere.status_code == 400
    assert elsewhere.json()["location"] == ["This location is not on the stock-take's site."]
    assert nowhere.status_code == 400
    assert "location" in nowhere.json()


def test_the_stocktake_shows_its_progress_per_location_code(api_as, facilities, stocktake):
    client = api_as(facilities)
    for tag in ("A", "A", "B", "D"):
        scan_as(client, stocktake, "hq-cab-1", tag)

    progress = client.get(url(stocktake)).json()["progress"]

    assert (progress["found"], progress["expected"]) == (2, 4)
    assert [(p["location"], p["found"], p["expected"]) for p in progress["per_location"]] == [
        ("hq-cab-1", 2, 3),
        ("hq-cab-2", 0, 1),
    ]


def test_undo_takes_back_only_my_last_scan(api_as, facilities, stocktake, cabinet, operator):
    colleague = make_user("kenji", "facilities", operator)
    client = api_as(facilities)
    scan_as(client, stocktake, "hq-cab-1", "A")
    stocktakes.scan_record(stocktake=stocktake, location=cabinet, tag="B", actor=colleague)

    response = client.post(url(stocktake, "undo"))

    assert response.status_code == 200
    assert response.json()["tag"] == "A"
    assert response.json()["undone_at"] is not None
    assert client.get(url(stocktake)).json()["progress"]["found"] == 1
    with nothing_written(Scan):
        nothing_left = client.post(url(stocktake, "undo"))
    assert nothing_left.status_code == 409
    assert nothing_left.json()["reasons"] == ["You have no scan to undo in this stock-take."]


# Blind counts ---------------------------------------------------------------------------------


@pytest.fixture
def two_counters(stocktake, cabinet, facilities, operator):
    colleague = make_user("kenji", "facilities", operator)
    stocktakes.scan_record(stocktake=stocktake, location=cabinet, tag="A", actor=facilities)
    stocktakes.scan_record(stocktake=stocktake, location=cabinet, tag="B", actor=colleague)
    stocktakes.scan_record(stocktake=stocktake, location=cabinet, tag="C", actor=colleague)
    return colleague


def scanned_tags(client, stocktake) -> list[str]:
    return sorted(s["tag"] for s in client.get(url(stocktake, "scans")).json()["results"])


def test_in_a_blind_count_scanning_staff_see_only_their_own_scans(
    api_as, facilities, stocktake, two_counters
):
    client = api_as(facilities)

    assert scanned_tags(client, stocktake) == ["A"]
    expected = client.get(url(stocktake, "expected"))
    assert expected.status_code == 403
    assert "LENT" not in expected.content.decode()


@pytest.mark.parametrize("reviewer", ["security", "auditor"])
def test_reviewers_see_every_scan_and_the_expected_list_of_a_blind_count(
    request, api_as, stocktake, two_counters, reviewer
):
    client = api_as(request.getfixturevalue(reviewer))

    assert scanned_tags(client, stocktake) == ["A", "B", "C"]
    expected = client.get(url(stocktake, "expected")).json()["results"]
    assert [(e["terminal"], e["location"], e["status"]) for e in expected] == [
        ("A", "hq-cab-1", "in_storage"),
        ("B", "hq-cab-1", "in_storage"),
        ("C", "hq-cab-1", "in_storage"),
        ("LENT", "hq-cab-1", "lent"),
        ("D", "hq-cab-2", "in_storage"),
    ]


def test_in_an_open_count_scanning_staff_see_everything(
    api_as, facilities, security, site, counted, cabinet, operator
):
    stocktake = stocktakes.stocktake_open(site=site, actor=security, reason="manual", blind=False)
    colleague = make_user("kenji", "facilities", operator)
    stocktakes.scan_record(stocktake=stocktake, location=cabinet, tag="B", actor=colleague)
    client = api_as(facilities)

    assert scanned_tags(client, stocktake) == ["B"]
    assert client.get(url(stocktake, "expected")).json()["count"] == 5


def test_the_scan_list_can_be_narrowed_to_one_location(api_as, security, stocktake, two_counters):
    client = api_as(security)

    response = client.get(url(stocktake, "scans"), {"location": "hq-cab-2"})

    assert response.json()["count"] == 0


# Closing and the report -----------------------------------------------------------------------


@pytest.fixture
def closed(api_as, facilities, security, stocktake):
    client = api_as(facilities)
    scan_as(client, stocktake, "hq-cab-1", "A")  # fine
    scan_as(client, stocktake, "hq-cab-2", "B")  # found elsewhere
    scan_as(client, stocktake, "hq-cab-1", "LENT")  # found but recorded as lent
    scan_as(client, stocktake, "hq-cab-1", "=HYPERLINK(1)")  # unknown, typed by hand
    scan_as(client, stocktake, "hq-cab-2", "D")  # C: missing
    return api_as(security).post(url(stocktake, "close"))


def test_closing_answers_the_summary_per_kind_and_per_location(closed, stocktake):
    assert closed.status_code == 200, closed.content
    body = closed.json()
    assert body["status"] == "closed"
    assert body["summary"]["per_kind"] == {
        "found_but_lent": 1,
        "found_elsewhere": 1,
        "missing": 1,
        "unknown_tag": 1,
    }
    per_location = {row["location"]: row["counts"] for row in body["summary"]["per_location"]}
    assert per_location["hq"] == body["summary"]["per_kind"]  # the site rolls up its children
    assert per_location["hq-cab-2"] == {"found_elsewhere": 1}
    assert AuditEvent.objects.filter(action="stocktake.closed").count() == 1


def test_a_closed_stocktake_takes_no_more_scans_and_cannot_close_again(
    api_as, closed, facilities, security, stocktake
):
    with nothing_written(stocktake):
        assert scan_as(api_as(facilities), stocktake, "hq-cab-1", "B").status_code == 409
        again = api_as(security).post(url(stocktake, "close"))
    assert again.status_code == 409


def test_the_report_lists_the_discrepancies_as_csv_for_excel(api_as, closed, auditor, stocktake):
    response = api_as(auditor).get(f"/api/v1/stocktakes/{stocktake.pk}/report.csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert f"stocktake-{stocktake.pk}-report.csv" in response["Content-Disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    header, *rows = csv.reader(io.StringIO(response.content.decode("utf-8-sig")))
    assert header[:6] == ["No.", "Kind", "Subject", "Location", "Recorded location", "Terminal"]
    assert len(rows) == 4
    rows = [dict(zip(header, row, strict=True)) for row in rows]
    missing = next(row for row in rows if row["Subject"] == "C")
    assert (missing["Kind"], missing["Terminal"], missing["Status"]) == ("Missing", "C", "Open")
    assert missing["Location"] == "本店 > 本館 > 3F > 端末保管室 > 保管庫1"
    assert missing["Opened at"].endswith("+09:00")
    # A hand-typed tag is never run as a formula by the spreadsheet.
    assert any(row["Subject"] == "'=HYPERLINK(1)" for row in rows)


def test_the_report_speaks_japanese_by_default(closed, auditor, stocktake):
    client = APIClient()
    client.force_login(auditor)

    response = client.get(f"/api/v1/stocktakes/{stocktake.pk}/report.csv")

    header = response.content.decode("utf-8-sig").splitlines()[0]
    assert "種別" in header
    assert "Kind" not in header


def test_the_report_is_also_json(api_as, closed, security, stocktake):
    rows = api_as(security).get(url(stocktake, "report")).json()

    assert sorted(row["subject"] for row in rows) == ["=HYPERLINK(1)", "B", "C", "LENT"]


# Query counts ---------------------------------------------------------------------------------

# Session, user, the user's and the groups' permissions, count, page: one query per row would
# go far past this bound.
MAX_QUERIES = 6


@pytest.mark.parametrize("rows", [10, 100])
def test_the_stocktake_list_costs_the_same_queries_for_10_or_100(
    api_as, auditor, security, site, rows, django_assert_max_num_queries
):
    for _ in range(rows):
        done = stocktakes.stocktake_open(site=site, actor=security, reason="manual")
        stocktakes.stocktake_close(stocktake=done, actor=security)
    client = api_as(auditor)

    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get("/api/v1/stocktakes/")

    assert response.status_code == 200
    assert response.json()["count"] == rows


@pytest.mark.parametrize("rows", [10, 100])
def test_the_scan_list_costs_the_same_queries_for_10_or_100(
    api_as, security, facilities, stocktake, cabinet, rows, django_assert_max_num_queries
):
    for n in range(rows):
        tag = ("A", "B", "D", "LENT")[n % 4] if n % 3 else f"GHOST-{n}"
        stocktakes.scan_record(stocktake=stocktake, location=cabinet, tag=tag, actor=facilities)
    client = api_as(security)

    with django_assert_max_num_queries(MAX_QUERIES + 1):  # and the stock-take itself
        response = client.get(url(stocktake, "scans"))

    assert response.status_code == 200
    assert response.json()["count"] == rows


def test_the_schema_lists_the_stocktake_and_discrepancy_endpoints(client, db):
    paths = client.get("/api/schema/", {"format": "json"}).json()["paths"]

    assert set(paths) >= {
        "/api/v1/stocktakes/",
        "/api/v1/stocktakes/{id}/",
        "/api/v1/stocktakes/{id}/scans/",
        "/api/v1/stocktakes/{id}/undo/",
        "/api/v1/stocktakes/{id}/expected/",
        "/api/v1/stocktakes/{id}/close/",
        "/api/v1/stocktakes/{id}/report/",
        "/api/v1/discrepancies/",
        "/api/v1/discrepancies/{id}/",
        "/api/v1/discrepancies/{id}/assign/",
        "/api/v1/discrepancies/{id}/resolve/",
        "/api/v1/discrepancies/{id}/evidence/",
        "/api/v1/discrepancies/{id}/evidence/{evidence_id}/",
        "/api/v1/discrepancies/run-policy-checks/",
    }
    scan = paths["/api/v1/stocktakes/{id}/scans/"]["post"]["responses"]["201"]
    assert scan["content"]["application/json"]["schema"]["$ref"].endswith("/Scan")
