"""POST /api/v1/stocktakes/{pk}/scans/batch/: the tags a buffering scanner stored, in one
request; one scan, one result and one audit event per tag, in the order sent."""

import pytest
from rest_framework.test import APIClient

from compliance import services as stocktakes
from compliance.models import Scan
from core.models import AuditEvent
from tests.factories import make_terminal
from tests.support.db import nothing_written


@pytest.fixture
def api() -> APIClient:
    return APIClient(HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def stocktake(site, cabinet, second_cabinet, security):
    for tag in ("A", "B"):
        make_terminal(location=cabinet, asset_tag=tag)
    make_terminal(location=second_cabinet, asset_tag="D")
    return stocktakes.stocktake_open(site=site, actor=security, reason="manual")


def batch(client, stocktake, body):
    return client.post(f"/api/v1/stocktakes/{stocktake.pk}/scans/batch/", body, format="json")


def test_each_tag_gets_its_own_scan_result_and_event_in_order(
    api_as, facilities, stocktake, cabinet
):
    response = batch(
        api_as(facilities), stocktake, {"location": "hq-cab-1", "tags": ["a", "D", "X-1", "A"]}
    )
    assert response.status_code == 201
    answer = [(s["tag"], s["terminal"], s["result"]) for s in response.json()["scans"]]
    assert answer == [
        ("A", "A", "expected_here"),
        ("D", "D", "belongs_elsewhere"),
        ("X-1", None, "unknown"),
        ("A", "A", "repeated"),
    ]
    ids = [s["id"] for s in response.json()["scans"]]
    assert list(Scan.objects.order_by("pk").values_list("pk", flat=True)) == ids
    assert AuditEvent.objects.filter(action="stocktake.scanned").count() == 4
    assert response.json()["scans"][1]["result_label"] == "Belongs elsewhere"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"location": "hq-cab-1"}, "tags"),
        ({"location": "hq-cab-1", "tags": []}, "tags"),
        ({"location": "hq-cab-1", "tags": ["A", ""]}, "tags"),
        ({"location": "hq-cab-1", "tags": ["A"] * 501}, "tags"),
        ({"location": "hq-cab-1", "tags": ["X" * 65]}, "tags"),
        ({"location": "nowhere", "tags": ["A"]}, "location"),
    ],
)
def test_a_bad_batch_answers_400_and_records_nothing(api_as, facilities, stocktake, body, field):
    with nothing_written():
        response = batch(api_as(facilities), stocktake, body)
    assert response.status_code == 400
    assert field in str(response.json())


def test_a_closed_stocktake_refuses_the_whole_batch(api_as, facilities, security, stocktake):
    stocktakes.stocktake_close(stocktake=stocktake, actor=security)
    with nothing_written():
        response = batch(api_as(facilities), stocktake, {"location": "hq-cab-1", "tags": ["A"]})
    assert response.status_code == 409


def test_who_does_not_scan_cannot_send_a_batch(api_as, security, auditor, stocktake):
    for user in (security, auditor):
        with nothing_written():
            response = batch(api_as(user), stocktake, {"location": "hq-cab-1", "tags": ["A"]})
        assert response.status_code == 403
