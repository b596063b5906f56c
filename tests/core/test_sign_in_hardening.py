"""Hardened sign-in (issue 13): lockout after failed sign-ins, counted per username and per
client address in the shared cache; the client address from a trusted proxy header only; rate
limits; the second factor of security and facilities staff; session lifetimes; `next` that
stays on this site; reveal answering 404 alike for missing and forbidden accounts."""

import datetime
import re

import pytest
import time_machine
from django.core.cache import caches
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, RequestFactory
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken

from core.client_address import client_address
from core.models import AuditEvent, Authenticator
from core.otp import current_code, demo_authenticator_enrol, recovery_code_digest
from tests.support.db import nothing_written
from tests.support.otp import authenticator, fresh_code

LOGIN = "/login/"
SECOND_FACTOR = "/login/second-factor/"
ENROL = "/login/second-factor/enrol/"
TOKEN_URL = "/api/v1/auth/token/"


def english() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def sign_in(client: Client, user, password: str, **extra):
    return client.post(LOGIN, {"username": user.username, "password": password}, **extra)


def signed_in_as(client: Client):
    return client.get("/").status_code == 200


# Lockout --------------------------------------------------------------------------------------


def test_five_wrong_passwords_lock_the_username_even_against_the_right_password(auditor, password):
    client = english()
    for _ in range(4):
        assert sign_in(client, auditor, "wrong-password").status_code == 200

    fifth = sign_in(client, auditor, "wrong-password")
    right = sign_in(client, auditor, password)

    assert fifth.status_code == 429
    assert right.status_code == 429
    assert int(right["Retry-After"]) > 14 * 60
    assert "Too many failed sign-ins. Try again in 15 minutes" in right.content.decode()
    assert not signed_in_as(client)
    assert (
        AuditEvent.objects.filter(action="user.locked_out", object_id=str(auditor.pk)).count() == 1
    )


def test_the_lockout_ends_after_its_time(auditor, password):
    client = english()
    for _ in range(5):
        sign_in(client, auditor, "wrong-password")

    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=16)):
        assert sign_in(client, auditor, password).status_code == 302
        assert signed_in_as(client)


def test_a_right_password_clears_the_count_of_earlier_failures(auditor, password):
    for _ in range(4):
        sign_in(english(), auditor, "wrong-password")
    assert sign_in(english(), auditor, password).status_code == 302

    for _ in range(4):
        assert sign_in(english(), auditor, "wrong-password").status_code == 200


def test_one_address_trying_many_usernames_is_locked_out(settings, auditor, contractor, password):
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 3
    client = english()
    for name in ("nobody", "somebody", "anybody"):
        client.post(LOGIN, {"username": name, "password": "wrong-password"})

    # Another user, right password, same address: refused; from another address: signed in.
    assert sign_in(client, contractor, password).status_code == 429
    assert sign_in(english(), contractor, password, REMOTE_ADDR="10.0.0.9").status_code == 302


def test_a_forged_forwarded_for_does_not_escape_the_address_count(settings, contractor, password):
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 3
    for n in range(3):
        english().post(
            LOGIN,
            {"username": f"user{n}", "password": "wrong-password"},
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
        )

    response = sign_in(english(), contractor, password, HTTP_X_FORWARDED_FOR="198.51.100.77")

    assert response.status_code == 429


def test_the_lockout_holds_in_a_shared_cache_another_process_reads(
    settings, tmp_path, auditor, password
):
    """The count is in the cache the settings share (files here; Redis in production), not in
    the process: a cache opened afresh on the same place, as another process opens it, still
    refuses the username."""
    shared = {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(tmp_path),
    }
    settings.CACHES = {"default": shared}
    for _ in range(5):
        sign_in(english(), auditor, "wrong-password")

    settings.CACHES = {"default": dict(shared)}  # a new cache object: nothing kept in memory
    assert caches["default"] is not None

    assert sign_in(english(), auditor, password).status_code == 429


def test_the_settings_share_the_cache_between_processes():
    """Redis when REDIS_URL is set, files otherwise: never the per-process memory cache."""
    import importlib

    import config.settings

    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
            with_redis = importlib.reload(config.settings).CACHES["default"]["BACKEND"]
            env.delenv("REDIS_URL")
            without = importlib.reload(config.settings).CACHES["default"]["BACKEND"]
    finally:
        importlib.reload(config.settings)  # as the run's environment has it

    assert with_redis == "django.core.cache.backends.redis.RedisCache"
    assert without == "django.core.cache.backends.filebased.FileBasedCache"


def test_the_token_endpoint_locks_out_too(api, auditor, password):
    for _ in range(5):
        last = api.post(
            TOKEN_URL, {"username": auditor.username, "password": "nope"}, format="json"
        )
    assert last.status_code == 429

    with nothing_written():
        right = api.post(
            TOKEN_URL, {"username": auditor.username, "password": password}, format="json"
        )

    assert right.status_code == 429
    assert "Retry-After" in right
    assert "Too many failed sign-ins" in right.json()["detail"]


# The client address ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "count", "forwarded", "expected"),
    [
        ("", 1, "203.0.113.5", "192.0.2.1"),  # no trusted proxy: the header is never read
        ("X-Forwarded-For", 1, "203.0.113.5", "203.0.113.5"),
        ("X-Forwarded-For", 1, "6.6.6.6, 203.0.113.5", "203.0.113.5"),  # forged left part
        ("X-Forwarded-For", 2, "6.6.6.6, 203.0.113.5, 10.0.0.2", "203.0.113.5"),
        ("X-Forwarded-For", 2, "203.0.113.5", "192.0.2.1"),  # fewer hops than proxies
        ("X-Forwarded-For", 1, "", "192.0.2.1"),  # did not pass the proxy
        ("X-Forwarded-For", 1, "not-an-address", "192.0.2.1"),
        ("X-Real-IP", 1, "203.0.113.5", "203.0.113.5"),
    ],
)
def test_the_client_address_comes_from_the_trusted_proxy_header_only(
    settings, header, count, forwarded, expected
):
    settings.TRUSTED_PROXY_HEADER, settings.TRUSTED_PROXY_COUNT = header, count
    meta = {"REMOTE_ADDR": "192.0.2.1"}
    if forwarded:
        meta["HTTP_" + (header or "X-Forwarded-For").upper().replace("-", "_")] = forwarded
    request = RequestFactory().get("/", **meta)

    assert client_address(request) == expected


# Rate limits ----------------------------------------------------------------------------------


def test_the_token_endpoint_is_rate_limited_with_retry_after(settings, api, auditor, password):
    settings.RATE_LIMIT_TOKEN = "2/minute"
    body = {"username": auditor.username, "password": password}
    for _ in range(2):
        assert api.post(TOKEN_URL, body, format="json").status_code == 200

    third = api.post(TOKEN_URL, body, format="json")

    assert third.status_code == 429
    assert 0 < int(third["Retry-After"]) <= 60
    assert "Too many requests" in third.json()["detail"]


def test_the_contractor_request_form_is_rate_limited(settings, as_user, contractor):
    settings.RATE_LIMIT_REQUEST_FORM = "2/hour"
    client = as_user(contractor)
    for _ in range(2):
        assert client.post("/lending/requests/new/", {}).status_code in (200, 400)

    with nothing_written():
        third = client.post("/lending/requests/new/", {}, HTTP_ACCEPT_LANGUAGE="en")

    assert third.status_code == 429
    assert int(third["Retry-After"]) > 0
    assert "Too many requests. Try again in" in third.content.decode()
    assert client.get("/lending/requests/new/").status_code == 200  # reading the form is free


def test_the_reveal_endpoint_is_rate_limited(settings, api_as, contractor):
    settings.RATE_LIMIT_REVEAL = "2/hour"
    client = api_as(contractor)
    statuses = [client.post(f"/api/v1/accounts/{9999 + n}/reveal/").status_code for n in range(3)]

    assert statuses == [404, 404, 429]


def test_reveal_answers_404_alike_for_a_missing_and_a_forbidden_account(api_as, security, terminal):
    from credentials.accounts import account_create
    from credentials.targets import target_system_create

    target = target_system_create(actor=None, code="cc", name="CC", connector="local")
    account = account_create(actor=None, target_system=target, terminal=terminal)
    client = api_as(security)

    forbidden = client.post(f"/api/v1/accounts/{account.pk}/reveal/")
    missing = client.post(f"/api/v1/accounts/{account.pk + 1000}/reveal/")

    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.json() == {"detail": missing.json()["detail"]}


# The second factor ----------------------------------------------------------------------------


def test_staff_pass_a_totp_step_before_any_page_or_api_call(client, facilities, password):
    device = authenticator(facilities)

    after_password = sign_in(client, facilities, password)

    assert after_password.status_code == 302
    assert after_password["Location"].startswith(SECOND_FACTOR)
    assert client.get("/").url.startswith(SECOND_FACTOR)
    api = client.get("/api/v1/terminals/", HTTP_ACCEPT_LANGUAGE="en")
    assert api.status_code == 403
    assert "second factor" in api.json()["detail"]
    assert client.get("/api/v1/terminals/", HTTP_AUTHORIZATION="Basic eDp5").status_code == 403

    verified = client.post(SECOND_FACTOR, {"code": fresh_code(device), "next": "/terminals/"})

    assert verified.status_code == 302
    assert verified["Location"] == "/terminals/"
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/terminals/").status_code == 200


def test_a_wrong_code_is_refused_and_counts_towards_the_lockout(
    settings, client, security, password
):
    settings.LOGIN_FAILURE_LIMIT = 2
    authenticator(security)
    sign_in(client, security, password)

    first = client.post(SECOND_FACTOR, {"code": "000000"}, HTTP_ACCEPT_LANGUAGE="en")
    second = client.post(SECOND_FACTOR, {"code": "000000"})

    assert first.status_code == 400
    assert "Wrong code" in first.content.decode()
    assert second.status_code == 302 and second["Location"] == LOGIN
    assert client.get("/").url.startswith(LOGIN)  # signed out
    assert sign_in(client, security, password).status_code == 429


def test_auditors_and_contractors_need_no_second_factor(client, auditor, password):
    response = sign_in(client, auditor, password)

    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_a_newcomer_enrols_an_app_and_gets_ten_recovery_codes_once(client, security, password):
    sign_in(client, security, password)
    assert client.get(SECOND_FACTOR)["Location"].startswith(ENROL)

    page = client.get(ENROL, HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert "<svg" in html
    secret = re.search(r'class="otp-secret">([A-Z2-7 ]+)<', html).group(1)
    device = Authenticator.objects.get(user=security, confirmed=False)
    assert secret.replace(" ", "") == device.config_url.split("secret=")[1].split("&")[0]
    assert client.post(ENROL, {"code": "123456"}).status_code == 400

    done = client.post(ENROL, {"code": current_code(device)})

    codes = re.findall(r"<li><code>([a-z2-7-]+)</code></li>", done.content.decode())
    assert done.status_code == 200
    assert len(set(codes)) == 10
    assert client.get("/").status_code == 200
    assert Authenticator.objects.get(user=security).confirmed
    # Stored as digests only: a copy of the database does not give the codes away.
    stored = set(StaticToken.objects.filter(device__user=security).values_list("token", flat=True))
    assert stored == {recovery_code_digest(code) for code in codes}
    assert not stored & {code.replace("-", "") for code in codes}
    assert AuditEvent.objects.filter(action="user.second_factor_enrolled").count() == 1
    assert not any(code in str(e.details) for e in AuditEvent.objects.all() for code in codes)


def test_a_recovery_code_signs_in_once(facilities, password):
    from core.otp import recovery_codes_issue

    authenticator(facilities)
    code = recovery_codes_issue(user=facilities)[0]
    first = english()
    sign_in(first, facilities, password)
    # Typed as read off paper: in capitals, the groups split by spaces.
    typed = code.upper().replace("-", " ")
    assert first.post(SECOND_FACTOR, {"code": typed})["Location"] == "/"

    again = english()
    sign_in(again, facilities, password)

    assert again.post(SECOND_FACTOR, {"code": code}).status_code == 400
    assert AuditEvent.objects.filter(action="user.recovery_code_used").count() == 1


def test_the_token_endpoint_asks_staff_for_their_code(api, facilities, password):
    device = authenticator(facilities)
    body = {"username": facilities.username, "password": password}

    with nothing_written():
        without = api.post(TOKEN_URL, body, format="json")
        wrong = api.post(TOKEN_URL, {**body, "otp": "000000"}, format="json")
    right = api.post(TOKEN_URL, {**body, "otp": fresh_code(device)}, format="json")

    assert without.status_code == wrong.status_code == 400
    assert "otp" in without.json()
    assert right.status_code == 200 and right.json()["token"]


def test_totp_code_prints_a_demo_users_code_and_nobody_elses(capsys, security, facilities):
    device = demo_authenticator_enrol(user=security, secret="SECURITYDEMOTOTPSECRET234567ABCD")
    authenticator(facilities)

    call_command("totp_code", security.username)

    assert capsys.readouterr().out.strip() == current_code(device)
    with pytest.raises(CommandError):
        call_command("totp_code", facilities.username)


# Sessions -------------------------------------------------------------------------------------


def test_an_idle_session_ends(as_user, auditor):
    client = as_user(auditor)
    start = timezone.now()
    with time_machine.travel(start + datetime.timedelta(minutes=29), tick=False):
        assert client.get("/").status_code == 200
    with time_machine.travel(start + datetime.timedelta(minutes=58), tick=False):
        assert client.get("/").status_code == 200  # used 29 minutes ago: still open
    with time_machine.travel(start + datetime.timedelta(minutes=89), tick=False):
        response = client.get("/", HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 302 and response.url.startswith(LOGIN)
        page = client.get(response.url, HTTP_ACCEPT_LANGUAGE="en")
    assert "Your session ended after 30 minutes without use" in page.content.decode()


def test_a_session_in_use_still_ends_at_its_absolute_limit(settings, as_user, auditor):
    settings.SESSION_COOKIE_AGE = 3600
    client = as_user(auditor)
    start = timezone.now()
    for minutes in (20, 40, 59):
        with time_machine.travel(start + datetime.timedelta(minutes=minutes), tick=False):
            assert client.get("/").status_code == 200
    with time_machine.travel(start + datetime.timedelta(minutes=61), tick=False):
        assert client.get("/").status_code == 302


# next= stays on this site ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/", "https:///evil.example", "/\\evil.example"],
)
def test_sign_in_and_the_second_factor_never_send_the_browser_off_site(
    target, client, facilities, password
):
    device = authenticator(facilities)
    after_password = client.post(
        LOGIN, {"username": facilities.username, "password": password, "next": target}
    )
    assert "evil" not in after_password["Location"]

    verified = client.post(SECOND_FACTOR, {"code": fresh_code(device), "next": target})

    assert verified["Location"] == "/"


def test_the_forced_rotation_form_never_sends_the_browser_off_site(as_user, security):
    response = as_user(security).post(
        "/credentials/rotations/force/", {"next": "https://evil.example/"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/credentials/rotations/"
