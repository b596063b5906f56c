"""The end of an arrangement on the real slapd: the accounts used only for it are locked on the
directory at once, and deleted there after the grace period."""

import datetime

import pytest
import time_machine

from credentials.models import AccountState
from credentials.targets import connector_for, target_system_create
from lending import arrangements
from tests.credentials.conftest import slapd  # noqa: F401 (the session's directory server)
from tests.lending.arrangements.conftest import propose


@pytest.fixture
def directory(slapd):  # noqa: F811
    ldap = slapd.settings(base_dn=slapd.new_branch())
    return target_system_create(
        actor=None, code="dir", name="Directory", connector="ldap",
        ldap_url=ldap.url, ldap_base_dn=ldap.base_dn, ldap_bind_dn=ldap.bind_dn,
        ldap_bind_password=ldap.bind_password,
    )  # fmt: skip


@pytest.fixture
def terminals(make_terminals, directory):
    return make_terminals(directory, ("NW-00001", "NW-00002", "NW-00003"))


def test_the_accounts_are_locked_on_the_directory_then_deleted_after_the_grace_period(
    lent, active, terminals, directory
):
    connector = connector_for(directory)
    lent_account = terminals[0].accounts.get()
    stored_account = terminals[1].accounts.get()
    other = terminals[2].accounts.get()
    assert connector.unlocked_login_ids() == [lent_account.login_id]  # the loan unlocked it

    end = active.ends_at
    with time_machine.travel(end + datetime.timedelta(minutes=1), tick=False):
        result = arrangements.arrangements_sweep()
    assert result.locked == [lent_account.pk]
    assert connector.unlocked_login_ids() == []
    assert sorted(connector.list_login_ids()) == sorted(
        [lent_account.login_id, stored_account.login_id, other.login_id]
    )

    with time_machine.travel(end + datetime.timedelta(days=6), tick=False):
        assert arrangements.arrangements_sweep().deleted == []
    with time_machine.travel(end + datetime.timedelta(days=7, minutes=2), tick=False):
        result = arrangements.arrangements_sweep()
        assert arrangements.arrangements_sweep().deleted == []  # the second run: nothing left
    assert sorted(result.deleted) == sorted([lent_account.pk, stored_account.pk])
    assert connector.list_login_ids() == [other.login_id]
    lent_account.refresh_from_db()
    assert lent_account.state == AccountState.DELETED


def test_a_proposal_alone_touches_nothing_on_the_directory(
    security, contractor_org, terminals, directory
):
    propose(security, [contractor_org], terminals[:1])
    arrangements.arrangements_sweep()
    assert len(connector_for(directory).list_login_ids()) == 3
