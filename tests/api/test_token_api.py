import hashlib

import pytest
from django.core.cache import cache

from core.models import ApiToken, AuditEvent
from core.otp import needs_second_factor
from tests.support.db import nothing_written
from tests.support.otp import authenticator, fresh_code

TOKEN_URL = "/api/v1/auth/token/"


@pytest.fixture(autouse=True)
def fresh_throttle():
    # The token endpoint is rate limited per address; every test starts with a clean count.
    cache.clear()


def _issue(api, user, password) -> str:
    body = {"username": user.username, "password": password}
    if needs_second_factor(user):  # security and facilities send their app's code too
        body["otp"] = fresh_code(authenticator(user))
    response = api.post(TOKEN_URL, body, format="json")
    assert response.status_code == 200, response.content
    return response.json()["token"]


def test_a_token_from_username_and_password_authenticates_later_requests(
    api, facilities, password, cabinet
):
    token = _issue(api, facilities, password)

    response = api.get("/api/v1/terminals/", HTTP_AUTHORIZATION=f"Token {token}")

    assert response.status_code == 200
    assert AuditEvent.objects.filter(action="api_token.issued", actor=facilities).count() == 1


def test_a_request_without_the_token_is_not_authenticated(api, facilities, password):
    _issue(api, facilities, password)

    assert api.get("/api/v1/terminals/").status_code == 401


def test_a_token_acts_with_its_users_role(api, auditor, password):
    token = _issue(api, auditor, password)

    with nothing_written():
        response = api.post(
            "/api/v1/organizations/",
            {"code": "x-co", "name": "X", "kind": "contractor"},
            format="json",
            HTTP_AUTHORIZATION=f"Token {token}",
        )

    assert response.status_code == 403


def test_a_wrong_password_gets_no_token(api, facilities):
    with nothing_written(facilities):
        response = api.post(
            TOKEN_URL,
            {"username": facilities.username, "password": "not-the-password"},
            format="json",
        )

    assert response.status_code == 400
    assert "token" not in response.json()


def test_a_made_up_token_is_refused(api, facilities, password):
    token = _issue(api, facilities, password)
    forged = token[:8] + "x" * (len(token) - 8)

    response = api.get("/api/v1/terminals/", HTTP_AUTHORIZATION=f"Token {forged}")

    assert response.status_code == 401


def test_the_stored_token_row_does_not_hold_the_token(api, facilities, password):
    token = _issue(api, facilities, password)

    row = ApiToken.objects.get(user=facilities)
    stored = " ".join(str(value) for value in ApiToken.objects.values().get(pk=row.pk).values())
    assert token not in stored
    assert row.digest == hashlib.sha256(token.encode()).hexdigest()
    event = AuditEvent.objects.get(action="api_token.issued")
    assert token not in str(event.details)
