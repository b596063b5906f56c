"""A small inventory for the page tests: two cabinets, a terminal in one, a card with it."""

import pytest

from tests.factories import make_card, make_location, make_terminal


@pytest.fixture
def second_cabinet(cabinet):
    return make_location(kind="cabinet", parent=cabinet.parent, code="hq-cab-2", name="保管庫2")


@pytest.fixture
def terminal(cabinet):
    return make_terminal(location=cabinet, asset_tag="NW-00001", hostname="nwpc-0001")


@pytest.fixture
def card(cabinet, terminal):
    return make_card(location=cabinet, terminal=terminal, card_number="IC-000001")


@pytest.fixture
def as_user(client):
    """Log the client in as a persona and hand it back."""

    def login(user):
        client.force_login(user)
        return client

    return login
