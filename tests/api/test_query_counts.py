"""List endpoints read a page with a fixed number of queries, however many rows there are."""

import pytest

from tests.factories import make_card, make_location, make_terminal

# Session, user, the user's and the groups' permissions, count, page. A page holds up to 50
# rows, so one query per row (or per related object) would go far past this bound.
MAX_QUERIES = 6


@pytest.mark.parametrize("rows", [10, 200])
def test_the_terminal_list_costs_the_same_queries_for_10_or_200_terminals(
    api_as, auditor, cabinet, open_room, rows, django_assert_max_num_queries
):
    for n in range(rows):
        make_terminal(location=cabinet if n % 2 else open_room)
    client = api_as(auditor)

    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get("/api/v1/terminals/")

    assert response.status_code == 200
    assert response.json()["count"] == rows


@pytest.mark.parametrize("rows", [10, 200])
def test_the_access_card_list_costs_the_same_queries_for_10_or_200_cards(
    api_as, auditor, cabinet, rows, django_assert_max_num_queries
):
    terminal = make_terminal(location=cabinet)
    for _ in range(rows):
        make_card(location=cabinet, terminal=terminal)
    client = api_as(auditor)

    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get("/api/v1/access-cards/")

    assert response.status_code == 200
    assert response.json()["count"] == rows


@pytest.mark.parametrize("rooms", [2, 60])
def test_the_location_list_costs_the_same_queries_however_deep_the_tree(
    api_as, auditor, cabinet, rooms, django_assert_max_num_queries
):
    floor = cabinet.parent.parent
    for _ in range(rooms):
        make_location(kind="room", parent=floor)
    client = api_as(auditor)

    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get("/api/v1/locations/")

    assert response.status_code == 200
