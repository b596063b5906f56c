"""A retirement deletes its terminal's accounts on their targets after the commit; a broker
that is down (or a process killed in between) never fails the retirement, and the sweeper
deletes what was left."""

import pytest
from celery import current_app
from kombu.exceptions import OperationalError

from core.models import AuditEvent
from credentials.accounts import retired_accounts_delete_pending
from credentials.connectors import ConnectorError
from credentials.connectors.ldap import LdapConnector
from credentials.models import AccountState
from credentials.targets import target_system_create
from terminals import services
from terminals.models import Terminal
from tests.credentials.conftest import slapd  # noqa: F401 (the session's directory server)
from tests.credentials.helpers import rotated_account
from tests.factories import make_terminal

DELETE = "credentials.connectors.local.LocalConnector.delete"


@pytest.fixture
def account(terminal, django_capture_on_commit_callbacks):
    target = target_system_create(actor=None, code="cc", name="cc", connector="local")
    return rotated_account(target, terminal, django_capture_on_commit_callbacks)


@pytest.fixture
def broker_down(monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    task = current_app.tasks["credentials.tasks.delete_accounts_of_terminal"]
    monkeypatch.setattr(task, "delay", refuse)


def test_a_retirement_with_the_broker_down_commits_and_the_sweeper_deletes_the_accounts(
    facilities, terminal, account, broker_down, django_capture_on_commit_callbacks
):
    # The callbacks run as after a real commit: a send that raised would fail the request.
    with django_capture_on_commit_callbacks(execute=True) as sent:
        retired = services.terminal_retire(
            terminal=terminal, actor=facilities, reason="耐用年数超過"
        )

    assert len(sent) == 1  # the worker was asked (and the broker refused)
    assert retired.status == Terminal.Status.RETIRED
    account.refresh_from_db()
    assert account.state == AccountState.LOCKED  # never deleted: the message was lost

    assert retired_accounts_delete_pending() == 1
    account.refresh_from_db()
    assert account.state == AccountState.DELETED
    assert AuditEvent.objects.filter(action="account.deleted", object_id=str(account.pk)).exists()
    assert retired_accounts_delete_pending() == 0  # nothing twice


def test_an_account_the_target_would_not_delete_is_deleted_by_a_later_sweep(
    terminal, account, monkeypatch
):
    def unreachable(self, login_id):
        raise ConnectorError("directory unreachable")

    services.terminal_retire(terminal=terminal, actor=None, reason="廃棄")  # no commit callbacks
    with monkeypatch.context() as patch:
        patch.setattr(DELETE, unreachable)
        assert retired_accounts_delete_pending() == 0
    account.refresh_from_db()
    assert account.state == AccountState.LOCKED

    assert retired_accounts_delete_pending() == 1
    account.refresh_from_db()
    assert account.state == AccountState.DELETED


def test_the_sweeper_leaves_the_accounts_of_terminals_in_service_alone(terminal, account):
    assert retired_accounts_delete_pending() == 0
    account.refresh_from_db()
    assert account.state == AccountState.LOCKED
    assert Terminal.objects.get(pk=terminal.pk).status == Terminal.Status.IN_STORAGE


def test_an_account_gone_from_the_directory_already_counts_as_deleted(
    slapd,  # noqa: F811
    cabinet,
    django_capture_on_commit_callbacks,
):
    ldap = slapd.settings(base_dn=slapd.new_branch())
    target = target_system_create(
        actor=None, code="dir", name="Directory", connector="ldap",
        ldap_url=ldap.url, ldap_base_dn=ldap.base_dn, ldap_bind_dn=ldap.bind_dn,
        ldap_bind_password=ldap.bind_password,
    )  # fmt: skip
    terminal = make_terminal(location=cabinet)
    account = rotated_account(target, terminal, django_capture_on_commit_callbacks)
    services.terminal_retire(terminal=terminal, actor=None, reason="廃棄")
    # The worker deleted it on the directory, then died before recording it.
    LdapConnector(ldap).delete(account.login_id)
    assert account.login_id not in LdapConnector(ldap).list_login_ids()

    assert retired_accounts_delete_pending() == 1
    account.refresh_from_db()
    assert account.state == AccountState.DELETED
