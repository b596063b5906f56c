"""The LDAP connector against a real slapd with the ppolicy overlay."""

import re
import socket
import threading
import time
import traceback

import pytest
from ldap3 import BASE

from credentials.connectors import ConnectorError
from credentials.connectors.ldap import LdapConnector

OLD_PASSWORD = "Old-pass-7Qx!"
NEW_PASSWORD = "New-pass-4Kz?"


def make_account(connector: LdapConnector, login_id: str, password: str) -> None:
    """An account as a previous rotation leaves it: present, with its password, locked."""
    connector.apply_rotation(old_login_id=login_id, new_login_id=login_id, password=password)


def entry(slapd, dn: str) -> dict:
    """The entry's stored attributes, operational ones included, as the server has them."""
    with slapd.admin() as conn:
        conn.search(dn, "(objectClass=*)", BASE, attributes=["*", "+"])
        return conn.response[0]["raw_attributes"]


def full_error(error: ConnectorError) -> str:
    """Everything a log or a task result could show of the error, causes included."""
    return "".join(traceback.format_exception(error))


def test_after_a_rotation_only_the_new_login_id_with_the_new_password_signs_in(connector):
    make_account(connector, "nw-old", OLD_PASSWORD)
    connector.unlock("nw-old")
    assert connector.verify("nw-old", OLD_PASSWORD)

    connector.apply_rotation(old_login_id="nw-old", new_login_id="nw-new", password=NEW_PASSWORD)
    connector.unlock("nw-new")

    assert not connector.verify("nw-old", OLD_PASSWORD)
    assert not connector.verify("nw-old", NEW_PASSWORD)
    assert not connector.verify("nw-new", OLD_PASSWORD)
    assert connector.verify("nw-new", NEW_PASSWORD)
    assert connector.list_login_ids() == ["nw-new"]


def test_a_rotated_account_is_locked_until_unlocked_and_locked_again_by_lock(connector):
    make_account(connector, "nw-old", OLD_PASSWORD)
    connector.unlock("nw-old")

    connector.apply_rotation(old_login_id="nw-old", new_login_id="nw-new", password=NEW_PASSWORD)
    assert not connector.verify("nw-new", NEW_PASSWORD)

    connector.unlock("nw-new")
    assert connector.verify("nw-new", NEW_PASSWORD)

    connector.lock("nw-new")
    assert not connector.verify("nw-new", NEW_PASSWORD)


def test_a_rotation_creates_the_account_when_neither_login_id_exists(connector):
    connector.apply_rotation(old_login_id="nw-old", new_login_id="nw-new", password=NEW_PASSWORD)

    assert connector.list_login_ids() == ["nw-new"]
    assert not connector.verify("nw-new", NEW_PASSWORD)
    connector.unlock("nw-new")
    assert connector.verify("nw-new", NEW_PASSWORD)


def test_repeating_a_rotation_ends_in_the_same_state(connector):
    make_account(connector, "nw-old", OLD_PASSWORD)

    for _ in range(2):
        connector.apply_rotation(
            old_login_id="nw-old", new_login_id="nw-new", password=NEW_PASSWORD
        )
        assert connector.list_login_ids() == ["nw-new"]
        assert not connector.verify("nw-new", NEW_PASSWORD)

    connector.unlock("nw-new")
    assert connector.verify("nw-new", NEW_PASSWORD)


def test_a_rotation_retried_after_a_crash_between_rename_and_password_converges(
    connector, slapd, branch
):
    make_account(connector, "nw-old", OLD_PASSWORD)
    with slapd.admin() as conn:
        conn.modify_dn(f"uid=nw-old,{branch}", "uid=nw-new", delete_old_dn=True)

    connector.apply_rotation(old_login_id="nw-old", new_login_id="nw-new", password=NEW_PASSWORD)

    assert connector.list_login_ids() == ["nw-new"]
    connector.unlock("nw-new")
    assert not connector.verify("nw-new", OLD_PASSWORD)
    assert connector.verify("nw-new", NEW_PASSWORD)


def test_a_rotation_removes_the_old_login_id_when_the_new_one_is_already_there(connector):
    make_account(connector, "nw-old", OLD_PASSWORD)
    make_account(connector, "nw-new", OLD_PASSWORD)

    connector.apply_rotation(old_login_id="nw-old", new_login_id="nw-new", password=NEW_PASSWORD)

    assert connector.list_login_ids() == ["nw-new"]
    connector.unlock("nw-new")
    assert connector.verify("nw-new", NEW_PASSWORD)


def test_the_server_stores_a_hash_of_the_password_not_the_password(connector, slapd, branch):
    make_account(connector, "nw-1", NEW_PASSWORD)

    (stored,) = entry(slapd, f"uid=nw-1,{branch}")["userPassword"]

    assert re.match(rb"^\{[A-Z0-9.-]+\}.", stored)
    assert NEW_PASSWORD.encode() not in stored


def test_lock_and_unlock_can_each_be_repeated(connector, slapd, branch):
    make_account(connector, "nw-1", NEW_PASSWORD)

    connector.lock("nw-1")
    connector.lock("nw-1")
    assert entry(slapd, f"uid=nw-1,{branch}")["pwdAccountLockedTime"] == [b"000001010000Z"]
    assert not connector.verify("nw-1", NEW_PASSWORD)

    connector.unlock("nw-1")
    connector.unlock("nw-1")
    assert "pwdAccountLockedTime" not in entry(slapd, f"uid=nw-1,{branch}")
    assert connector.verify("nw-1", NEW_PASSWORD)


def test_locking_an_account_that_is_not_there_is_an_error_that_retrying_does_not_fix(connector):
    with pytest.raises(ConnectorError, match="noSuchObject") as raised:
        connector.lock("nw-missing")

    assert not raised.value.retryable


def test_a_url_with_a_trailing_slash_reaches_the_server(slapd, branch):
    connector = LdapConnector(slapd.settings(url=f"{slapd.url}/", base_dn=branch))

    assert connector.list_login_ids() == []


def test_verify_refuses_an_unknown_login_id_and_an_empty_password(connector):
    make_account(connector, "nw-1", NEW_PASSWORD)
    connector.unlock("nw-1")

    assert not connector.verify("nw-missing", NEW_PASSWORD)
    assert not connector.verify("nw-1", "")


def test_list_login_ids_lists_exactly_the_accounts_of_the_branch(connector, slapd, branch):
    connector.page_size = 2
    for login_id in ["nw-1", "nw-2", "nw-3", "nw-4", "nw-5"]:
        make_account(connector, login_id, NEW_PASSWORD)
    with slapd.admin() as conn:
        conn.add(f"cn=printer,{branch}", ["device"], {"cn": "printer"})
        conn.add(f"ou=elsewhere,{branch}", ["organizationalUnit"], {"ou": "elsewhere"})
        conn.add(
            f"uid=nw-deeper,ou=elsewhere,{branch}",
            ["account", "simpleSecurityObject"],
            {"uid": "nw-deeper", "userPassword": "x"},
        )

    assert sorted(connector.list_login_ids()) == ["nw-1", "nw-2", "nw-3", "nw-4", "nw-5"]


def test_delete_removes_one_account_and_can_be_repeated(connector):
    make_account(connector, "nw-1", NEW_PASSWORD)
    make_account(connector, "nw-2", NEW_PASSWORD)

    connector.delete("nw-1")
    connector.delete("nw-1")

    assert connector.list_login_ids() == ["nw-2"]


def test_a_closed_port_is_a_retryable_error_that_does_not_show_the_passwords(slapd):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    connector = LdapConnector(slapd.settings(url=f"ldap://127.0.0.1:{port}", timeout=2))

    started = time.monotonic()
    with pytest.raises(ConnectorError) as raised:
        connector.apply_rotation(old_login_id="nw-1", new_login_id="nw-2", password=NEW_PASSWORD)

    assert time.monotonic() - started < 2
    assert raised.value.retryable
    assert f"127.0.0.1:{port}" in str(raised.value)
    assert NEW_PASSWORD not in full_error(raised.value)
    assert slapd.bind_password not in full_error(raised.value)


def test_a_server_that_never_answers_is_a_retryable_error_after_the_timeout(slapd):
    # The kernel accepts the connection into the backlog; nothing ever reads or answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        connector = LdapConnector(slapd.settings(url=f"ldap://127.0.0.1:{port}", timeout=1))

        started = time.monotonic()
        with pytest.raises(ConnectorError) as raised:
            connector.lock("nw-1")
        elapsed = time.monotonic() - started

    assert 1 <= elapsed < 4
    assert raised.value.retryable
    assert slapd.bind_password not in full_error(raised.value)


def test_a_wrong_bind_password_is_an_error_that_does_not_show_the_password(slapd, branch):
    wrong = "Not-the-admin-password-9"
    connector = LdapConnector(slapd.settings(base_dn=branch, bind_password=wrong))

    with pytest.raises(ConnectorError, match="invalidCredentials") as raised:
        connector.apply_rotation(old_login_id="nw-1", new_login_id="nw-2", password=NEW_PASSWORD)

    assert not raised.value.retryable
    assert wrong not in full_error(raised.value)
    assert NEW_PASSWORD not in full_error(raised.value)


@pytest.fixture
def directory_calls(monkeypatch):
    """Binds and searches sent on any ldap3 connection from here on, and no kept connection."""
    from ldap3 import Connection

    from credentials.connectors import ldap as ldap_module

    monkeypatch.setattr(ldap_module, "_kept", threading.local())
    calls = {"bind": 0, "search": 0}
    for name in calls:
        original = getattr(Connection, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Connection, name, counted)
    return calls


def test_rotations_share_one_bound_connection_and_search_nothing(connector, directory_calls):
    make_account(connector, "nw-a0", OLD_PASSWORD)
    for n in range(1, 4):
        connector.apply_rotation(
            old_login_id=f"nw-a{n - 1}", new_login_id=f"nw-a{n}", password=NEW_PASSWORD
        )

    assert directory_calls == {"bind": 1, "search": 0}
    assert connector.list_login_ids() == ["nw-a3"]
    connector.unlock("nw-a3")
    assert connector.verify("nw-a3", NEW_PASSWORD)


def test_a_kept_connection_the_server_dropped_is_made_again(connector, directory_calls):
    from credentials.connectors import ldap as ldap_module

    make_account(connector, "nw-1", OLD_PASSWORD)
    (kept,) = ldap_module._kept.connections.values()
    kept.socket.shutdown(socket.SHUT_RDWR)  # as a server restart or an idle timeout leaves it

    connector.apply_rotation(old_login_id="nw-1", new_login_id="nw-2", password=NEW_PASSWORD)

    assert directory_calls["bind"] == 2
    assert connector.list_login_ids() == ["nw-2"]
    connector.unlock("nw-2")
    assert connector.verify("nw-2", NEW_PASSWORD)
