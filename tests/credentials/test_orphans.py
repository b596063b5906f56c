"""Orphan detection against the real slapd: an entry on the directory that no account owns."""

from compliance.models import Discrepancy
from compliance.policy_checks import run_policy_checks
from compliance.services import discrepancy_resolve
from credentials.targets import connector_for, target_system_create
from tests.credentials.helpers import rotated_account


def test_an_entry_no_account_owns_is_an_orphan_and_resolving_deletes_it(
    slapd, branch, terminal, security, django_capture_on_commit_callbacks
):
    ldap = slapd.settings(base_dn=branch)
    target = target_system_create(
        actor=None, code="dir", name="Directory", connector="ldap",
        ldap_url=ldap.url, ldap_base_dn=ldap.base_dn, ldap_bind_dn=ldap.bind_dn,
        ldap_bind_password=ldap.bind_password,
    )  # fmt: skip
    account = rotated_account(target, terminal, django_capture_on_commit_callbacks)
    connector = connector_for(target)
    connector.apply_rotation(
        old_login_id="leftover01", new_login_id="leftover01", password="Xx1!aaaaaaaaaaaa"
    )
    assert sorted(connector.list_login_ids()) == sorted([account.login_id, "leftover01"])

    assert run_policy_checks().get("orphan_account") == 1
    orphan = Discrepancy.objects.get(kind="orphan_account")
    assert orphan.subject == "dir:leftover01"
    discrepancy_resolve(
        discrepancy=orphan, actor=security, outcome="orphan_deleted", note="削除漏れID"
    )
    assert connector.list_login_ids() == [account.login_id]
    assert run_policy_checks().get("orphan_account") is None


def test_an_account_unlocked_on_the_directory_but_locked_in_the_service_is_a_finding(
    slapd, branch, terminal, security, django_capture_on_commit_callbacks
):
    ldap = slapd.settings(base_dn=branch)
    target = target_system_create(
        actor=None, code="dir", name="Directory", connector="ldap",
        ldap_url=ldap.url, ldap_base_dn=ldap.base_dn, ldap_bind_dn=ldap.bind_dn,
        ldap_bind_password=ldap.bind_password,
    )  # fmt: skip
    account = rotated_account(target, terminal, django_capture_on_commit_callbacks)
    connector = connector_for(target)
    assert account.state == "locked"
    assert connector.unlocked_login_ids() == []
    assert run_policy_checks().get("unlocked_on_directory") is None

    # Someone with the directory's administrator password unlocks it behind the service's back.
    connector.unlock(account.login_id)
    assert connector.unlocked_login_ids() == [account.login_id]
    assert run_policy_checks().get("unlocked_on_directory") == 1
    finding = Discrepancy.objects.get(kind="unlocked_on_directory")
    assert finding.account == account
    assert finding.terminal == terminal
    assert run_policy_checks().get("unlocked_on_directory") is None  # found once

    # Locked again on the directory: a later run finds nothing new.
    connector.lock(account.login_id)
    discrepancy_resolve(discrepancy=finding, actor=security, outcome="fixed", note="再ロック")
    assert run_policy_checks().get("unlocked_on_directory") is None
