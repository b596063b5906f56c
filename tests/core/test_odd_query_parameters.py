"""Numbers in links that someone edited (letters, superscripts, full-width digits) answer a page
or a 404, never a 500."""

import pytest

from compliance import services as stocktakes

ODD = ["abc", "²", "1e3", "-1"]


@pytest.mark.parametrize("value", ODD)
def test_the_counter_with_an_odd_request_number_is_not_found(client, facilities, value):
    client.force_login(facilities)

    assert client.get("/lending/checkout/", {"request": value}).status_code == 404


@pytest.mark.parametrize("value", [*ODD, "１"])
def test_a_new_location_under_an_odd_parent_is_a_new_location_page(client, facilities, value):
    client.force_login(facilities)

    assert client.get("/terminals/locations/new/", {"parent": value}).status_code == 200


@pytest.mark.parametrize("value", [*ODD, "１"])
def test_the_scanning_page_with_odd_last_and_batch_answers(
    client, facilities, security, site, cabinet, value
):
    stocktake = stocktakes.stocktake_open(site=site, actor=security, reason="manual")
    client.force_login(facilities)
    url = f"/terminals/stocktakes/{stocktake.pk}/scan/"

    for query in ({"last": value}, {"batch": f"{value}-{value}"}):
        response = client.get(url, {"location": cabinet.pk, **query})
        assert response.status_code == 200, query
