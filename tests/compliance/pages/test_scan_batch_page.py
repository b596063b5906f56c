"""The scanning page's batch mode: the tags a scanner stored, pasted one per line, each
recorded as its own scan, with every result shown after the page comes back."""

import pytest
from django.urls import reverse

from compliance import services as stocktakes
from compliance.models import Scan
from core.models import AuditEvent
from tests.factories import make_location, make_terminal
from tests.support.db import nothing_written


@pytest.fixture
def stocktake(site, cabinet, second_cabinet, security):
    for tag in ("NW-A", "NW-B"):
        make_terminal(location=cabinet, asset_tag=tag)
    make_terminal(location=second_cabinet, asset_tag="NW-C")
    return stocktakes.stocktake_open(site=site, actor=security, reason="manual")


@pytest.fixture
def client_en(as_user, facilities):
    client = as_user(facilities)
    client.cookies["django_language"] = "en"
    return client


def scan_url(stocktake):
    return reverse("compliance:stocktake_scan", kwargs={"pk": stocktake.pk})


def test_the_page_switches_between_one_tag_and_several(client_en, stocktake, cabinet):
    single = client_en.get(f"{scan_url(stocktake)}?location={cabinet.pk}").content.decode()
    assert 'id="scan-form"' in single and 'id="batch-form"' not in single
    assert f"?location={cabinet.pk}&amp;mode=batch" in single
    several = client_en.get(f"{scan_url(stocktake)}?location={cabinet.pk}&mode=batch")
    body = several.content.decode()
    assert 'id="batch-form"' in body and 'id="scan-form"' not in body
    assert '<textarea name="tags"' in body
    assert 'id="progress-here-bar"' in body  # the progress is still there


def test_each_line_is_recorded_as_its_own_scan_and_shown_with_its_result(
    client_en, stocktake, cabinet
):
    response = client_en.post(
        scan_url(stocktake),
        {"location": cabinet.pk, "mode": "batch", "tags": "nw-a\r\n\r\nNW-C\r\nGHOST\r\nNW-A\r\n"},
        follow=True,
    )
    assert response.redirect_chain[-1][1] == 302
    assert [(s.tag, s.result) for s in Scan.objects.order_by("pk")] == [
        ("NW-A", "expected_here"),
        ("NW-C", "belongs_elsewhere"),
        ("GHOST", "unknown"),
        ("NW-A", "repeated"),
    ]
    assert AuditEvent.objects.filter(action="stocktake.scanned").count() == 4
    body = response.content.decode()
    shown = body.split('class="card last-batch"')[1].split("</section>")[0]
    assert "4 tags recorded" in shown
    for tag in ("NW-A", "NW-C", "GHOST"):
        assert tag in shown
    assert "Already scanned here: counted once." in shown
    assert 'id="batch-form"' in body  # still in batch mode for the next load
    # Reloading shows the same results and records nothing again.
    client_en.get(response.redirect_chain[-1][0])
    assert Scan.objects.count() == 4


def test_a_bad_batch_is_refused_on_the_form(client_en, stocktake, cabinet):
    with nothing_written(stocktake):
        response = client_en.post(
            scan_url(stocktake),
            {"location": cabinet.pk, "mode": "batch", "tags": "NW-A\n" + "X" * 70},
        )
    assert response.status_code == 400
    assert "Line 2: an asset tag has at most 64 characters." in response.content.decode()
    with nothing_written(stocktake):
        response = client_en.post(
            scan_url(stocktake), {"location": cabinet.pk, "mode": "batch", "tags": " \n "}
        )
    assert response.status_code == 400
    assert "Scan or type at least one asset tag." in response.content.decode()


def test_a_batch_needs_a_location_of_the_site(client_en, stocktake, operator):
    elsewhere = make_location(code="branch", name="支店", custodian=operator)
    with nothing_written(stocktake):
        response = client_en.post(
            scan_url(stocktake), {"location": elsewhere.pk, "mode": "batch", "tags": "NW-A"}
        )
    assert response.status_code == 400
    assert "Choose the location first." in response.content.decode()


def test_a_closed_stocktake_takes_no_batch(client_en, security, stocktake, cabinet):
    stocktakes.stocktake_close(stocktake=stocktake, actor=security)
    with nothing_written(stocktake):
        response = client_en.post(
            scan_url(stocktake), {"location": cabinet.pk, "mode": "batch", "tags": "NW-A"}
        )
    assert response.status_code == 302  # back to the stock-take, as for a single scan
    assert not Scan.objects.exists()
