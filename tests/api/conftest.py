import pytest
from rest_framework.test import APIClient

from tests.factories import make_terminal


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def api_as(api):
    """`api_as(user)`: the client signed in as that user (session authentication)."""

    def sign_in(user) -> APIClient:
        api.force_login(user)
        return api

    return sign_in


@pytest.fixture
def terminal(cabinet):
    return make_terminal(location=cabinet, asset_tag="NW-00001")
