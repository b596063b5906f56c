"""A directory address is checked when a target system is saved; one that is wrong anyway (saved
before the check, or a server that is not a directory) fails its rotations after their retries
and alerts security, instead of leaving them pending for ever."""

import socket
import threading
import time

import pytest
from django.core import mail

from core.errors import InvalidInput
from credentials.accounts import account_create
from credentials.connectors import ConnectorError
from credentials.models import AccountState, RotationStatus, TargetSystem
from credentials.targets import connector_for, target_system_create
from tests.support.db import nothing_written

LDAP = {
    "ldap_base_dn": "ou=people,dc=example,dc=jp",
    "ldap_bind_dn": "cn=admin,dc=example,dc=jp",
    "ldap_bind_password": "bind-Secret-123",
}


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ldap//dir.example.jp", "must start with ldap:// or ldaps://"),
        ("http://dir.example.jp", "must start with ldap:// or ldaps://"),
        ("ldap://", "valid host name or IP address"),
        ("ldap://dir..example.jp", "valid host name or IP address"),
        ("ldap://dir.example.jp:0", "from 1 to 65535"),
        ("ldap://dir.example.jp:70000", "from 1 to 65535"),
        ("ldap://dir.example.jp:38g", "from 1 to 65535"),
        ("ldap://dir.example.jp /", "no spaces"),
        ("ldap://dir.example.jp/ou=people", "no spaces, user name, path or query"),
    ],
)
def test_the_api_refuses_a_mistyped_directory_address_with_a_field_error(
    api_as, security, url, says
):
    with nothing_written(TargetSystem):
        response = api_as(security).post(
            "/api/v1/target-systems/",
            {"code": "dir", "name": "D", "connector": "ldap", "ldap_url": url, **LDAP},
            format="json",
        )
    assert response.status_code == 400
    assert list(response.json()) == ["ldap_url"]
    assert says in response.json()["ldap_url"][0]


@pytest.mark.parametrize(
    "url", ["ldaps://dir.example.jp:636", "ldap://192.0.2.10/", "ldap://[2001:db8::1]:389"]
)
def test_a_well_formed_directory_address_is_accepted(api_as, security, url):
    response = api_as(security).post(
        "/api/v1/target-systems/",
        {"code": "dir", "name": "D", "connector": "ldap", "ldap_url": url, **LDAP},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert TargetSystem.objects.get(code="dir").ldap_url == url


def test_the_service_checks_the_address_and_the_timeout_for_every_caller(db):
    with pytest.raises(InvalidInput) as refused:
        target_system_create(
            actor=None, code="dir", name="D", connector="ldap",
            ldap_url="ldap://dir.example.jp:99999", ldap_timeout_seconds=0, **LDAP,
        )  # fmt: skip
    assert set(refused.value.field_errors) == {"ldap_url", "ldap_timeout_seconds"}
    assert not TargetSystem.objects.exists()


# Addresses wrong all the same --------------------------------------------------------------


def _directory_target(url: str) -> TargetSystem:
    """An LDAP target whose address is `url`, as if saved before addresses were checked."""
    target = target_system_create(
        actor=None, code="dir", name="D", connector="ldap",
        ldap_url="ldap://127.0.0.1:1", ldap_timeout_seconds=2, **LDAP,
    )  # fmt: skip
    TargetSystem.objects.filter(pk=target.pk).update(ldap_url=url)
    target.refresh_from_db()
    return target


def _serve_garbage():
    """Something that is not a directory on the port (a web server, a typo in the port): it
    answers every connection with bytes that are no LDAP message."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def answer():
        while True:
            try:
                conn, _address = server.accept()
            except OSError:
                return
            try:
                conn.recv(1024)
                conn.sendall(b"\x54\x03\x02\x01\x01HTTP/1.1 400 Bad Request\r\n\r\n")
            except OSError:
                pass
            finally:
                conn.close()

    threading.Thread(target=answer, daemon=True).start()
    return server


@pytest.fixture
def garbage_port():
    server = _serve_garbage()
    yield server.getsockname()[1]
    # close() alone does not wake the thread blocked in accept(); shutdown() does.
    server.shutdown(socket.SHUT_RDWR)
    server.close()


@pytest.mark.parametrize(
    ("url", "retryable"),
    [
        ("ldap://127.0.0.1:99999", False),  # saved before the check: refused at once
        ("ldap:/127.0.0.1:389", False),
        ("ldap://127.0.0.1:1", True),  # nobody listening: may come back
        ("ldap://no-such-host.invalid:389", True),  # not resolvable: DNS may come back
    ],
)
def test_the_connector_answers_a_connector_error_for_a_bad_or_unreachable_address(
    db, url, retryable
):
    connector = connector_for(_directory_target(url))
    started = time.monotonic()
    with pytest.raises(ConnectorError) as failed:
        connector.list_login_ids()
    assert time.monotonic() - started < 5
    assert failed.value.retryable is retryable
    assert "bind-Secret-123" not in str(failed.value)


def test_a_server_that_is_not_a_directory_is_a_connector_error_too(db, garbage_port):
    connector = connector_for(_directory_target(f"ldap://127.0.0.1:{garbage_port}"))
    with pytest.raises(ConnectorError) as failed:
        connector.unlocked_login_ids()
    assert "cannot talk to the server" in str(failed.value)


@pytest.mark.parametrize("url", ["ldap://127.0.0.1:1", "ldap://127.0.0.1:99999"])
def test_rotations_on_a_wrong_address_fail_after_their_retries_and_alert_security(
    terminal, security, settings, django_capture_on_commit_callbacks, url
):
    security.email = "sec@example.jp"
    security.save()
    settings.ROTATION_MAX_RETRIES = 2
    settings.ROTATION_RETRY_BASE_DELAY_SECONDS = 0
    target = _directory_target(url)
    with django_capture_on_commit_callbacks(execute=True):
        account = account_create(actor=None, target_system=target, terminal=terminal)
    account.refresh_from_db()
    rotation = account.rotations.get()
    assert rotation.status == RotationStatus.FAILED
    assert account.state == AccountState.ROTATION_FAILED
    assert "127.0.0.1" in rotation.last_error
    # Tried 1 + 2 times when the address may come back to life; once when it cannot.
    assert rotation.attempts == (3 if url.endswith(":1") else 1)
    assert [message.to for message in mail.outbox] == [["sec@example.jp"]]
    assert terminal.asset_tag in mail.outbox[0].subject
