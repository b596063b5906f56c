"""API tokens expire (API_TOKEN_DAYS), and their owner or a security officer can list and
revoke them, over the API and on the API tokens page; a revoked or expired token is refused."""

import datetime
import re

import time_machine
from django.utils import timezone

from core.models import ApiToken, AuditEvent
from core.services import api_token_issue
from tests.support.db import nothing_written

TOKENS = "/api/v1/auth/tokens/"
PAGE = "/account/tokens/"


def call_with(api, token: str):
    return api.get("/api/v1/declarations/", HTTP_AUTHORIZATION=f"Token {token}")


def test_a_token_expires_after_the_configured_days(settings, api, contractor):
    settings.API_TOKEN_DAYS = 30
    token = api_token_issue(user=contractor)
    row = ApiToken.objects.get(user=contractor)
    assert abs(row.expires_at - (timezone.now() + datetime.timedelta(days=30))).total_seconds() < 60

    with time_machine.travel(timezone.now() + datetime.timedelta(days=29)):
        assert call_with(api, token).status_code == 200
    with time_machine.travel(timezone.now() + datetime.timedelta(days=31)):
        refused = call_with(api, token)

    assert refused.status_code == 401
    assert "expired" in refused.json()["detail"]


def test_the_token_endpoint_says_when_the_token_expires(api, contractor, password):
    response = api.post(
        "/api/v1/auth/token/",
        {"username": contractor.username, "password": password, "name": "depot scanner"},
        format="json",
    )

    assert response.status_code == 200
    row = ApiToken.objects.get(user=contractor)
    assert row.name == "depot scanner"
    assert datetime.datetime.fromisoformat(response.json()["expires_at"]) == row.expires_at


def test_the_owner_lists_their_tokens_without_the_token_itself(api_as, contractor, outsider):
    token = api_token_issue(user=contractor, name="laptop")
    api_token_issue(user=outsider)

    listed = api_as(contractor).get(TOKENS).json()["results"]

    assert [(row["name"], row["prefix"], row["user"]) for row in listed] == [
        ("laptop", token[:8], contractor.username)
    ]
    assert set(listed[0]) >= {"created_at", "last_used_at", "expires_at", "revoked_at"}
    assert token not in str(listed)


def test_the_owner_revokes_a_token_and_it_is_refused_at_once(api, api_as, contractor):
    token = api_token_issue(user=contractor)
    row = ApiToken.objects.get(user=contractor)
    assert call_with(api, token).status_code == 200

    revoked = api_as(contractor).post(f"{TOKENS}{row.pk}/revoke/")
    api.logout()
    refused = call_with(api, token)

    assert revoked.status_code == 200
    assert revoked.json()["revoked_by"] == contractor.username
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    assert AuditEvent.objects.filter(action="api_token.revoked", actor=contractor).count() == 1


def test_nobody_else_sees_or_revokes_a_users_token_except_security(
    api_as, contractor, outsider, facilities, security
):
    api_token_issue(user=contractor)
    row = ApiToken.objects.get(user=contractor)

    with nothing_written(row):
        for other in (outsider, facilities):
            client = api_as(other)
            assert client.get(TOKENS).json()["count"] == 0
            assert client.post(f"{TOKENS}{row.pk}/revoke/").status_code == 404
            client.logout()

    client = api_as(security)
    assert [
        r["user"] for r in client.get(TOKENS, {"user": contractor.username}).json()["results"]
    ] == [contractor.username]
    assert client.post(f"{TOKENS}{row.pk}/revoke/").status_code == 200
    assert client.post(f"{TOKENS}{row.pk}/revoke/").status_code == 409


def test_last_use_is_written_at_most_once_a_minute(api, contractor):
    token = api_token_issue(user=contractor)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        call_with(api, token)
    with time_machine.travel(start + datetime.timedelta(seconds=30), tick=False):
        call_with(api, token)
        assert ApiToken.objects.get(user=contractor).last_used_at == start
    with time_machine.travel(start + datetime.timedelta(seconds=61), tick=False):
        call_with(api, token)
        assert ApiToken.objects.get(user=contractor).last_used_at == start + datetime.timedelta(
            seconds=61
        )


def test_the_tokens_page_creates_one_shown_once_lists_and_revokes(as_user, contractor):
    client = as_user(contractor)

    created = client.post(PAGE, {"name": "depot scanner"}, HTTP_ACCEPT_LANGUAGE="en")
    token = re.search(r'class="api-token">([^<]+)<', created.content.decode()).group(1)
    row = ApiToken.objects.get(user=contractor)
    listed = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert ApiToken.digest_of(token) == row.digest
    assert "depot scanner" in listed and row.prefix in listed and token not in listed
    assert client.post(f"{PAGE}{row.pk}/revoke/")["Location"] == PAGE
    assert ApiToken.objects.get(pk=row.pk).revoked_at is not None


def test_security_sees_every_users_tokens_on_the_page(as_user, security, contractor):
    api_token_issue(user=contractor, name="contractor's scanner")

    page = as_user(security).get(PAGE, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "contractor&#x27;s scanner" in page and contractor.username in page
