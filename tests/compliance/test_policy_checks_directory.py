"""The policy checks read each directory's own state, against the real slapd: a directory that
cannot be read is a finding of its own and never fails the checks of the others; and an account
a cut-off check-out left unlocked on the directory, while the database says locked, is found."""

import datetime

import pytest
from django.utils import timezone

from compliance.models import Discrepancy
from compliance.policy_checks import run_policy_checks
from credentials.models import TargetSystem
from credentials.targets import connector_for, target_system_create
from lending import services
from lending.models import Loan, LoanStatus
from terminals.models import Terminal
from tests.credentials.conftest import slapd  # noqa: F401 (the session's directory server)
from tests.credentials.helpers import rotated_account
from tests.factories import make_terminal, make_user


@pytest.fixture
def directory(db, slapd):  # noqa: F811
    ldap = slapd.settings(base_dn=slapd.new_branch())
    return target_system_create(
        actor=None, code="dir", name="Directory", connector="ldap",
        ldap_url=ldap.url, ldap_base_dn=ldap.base_dn, ldap_bind_dn=ldap.bind_dn,
        ldap_bind_password=ldap.bind_password,
    )  # fmt: skip


@pytest.fixture
def unreachable(db):
    """A second directory whose server is not there (port 1: nobody listens)."""
    return target_system_create(
        actor=None, code="gone", name="Gone", connector="ldap",
        ldap_url="ldap://127.0.0.1:1", ldap_base_dn="ou=people,dc=x", ldap_bind_dn="cn=admin,dc=x",
        ldap_bind_password="bind-Secret-123", ldap_timeout_seconds=2,
    )  # fmt: skip


def findings(kind: str) -> list[Discrepancy]:
    return list(Discrepancy.objects.filter(kind=kind, status="open"))


def test_a_directory_that_cannot_be_read_is_a_finding_and_the_others_are_still_checked(
    directory, unreachable, cabinet, django_capture_on_commit_callbacks
):
    account = rotated_account(
        directory, make_terminal(location=cabinet), django_capture_on_commit_callbacks
    )
    connector_for(directory).unlock(account.login_id)  # behind the service's back

    recorded = run_policy_checks()

    assert recorded["directory_unchecked"] == 1
    assert recorded["unlocked_on_directory"] == 1
    (unchecked,) = findings("directory_unchecked")
    assert unchecked.subject == "directory:gone"
    assert unchecked.details["target_system"] == "gone"
    assert "ldap://127.0.0.1:1" in unchecked.details["error"]
    assert "bind-Secret-123" not in str(unchecked.details)
    assert findings("unlocked_on_directory")[0].account == account
    assert run_policy_checks() == {}  # found once


def test_an_address_wrong_in_the_database_is_a_finding_not_a_500(api_as, security, unreachable):
    # Saved before addresses were checked: ldap3 itself refuses the port.
    TargetSystem.objects.filter(pk=unreachable.pk).update(ldap_url="ldap://127.0.0.1:99999")
    response = api_as(security).post("/api/v1/discrepancies/run-policy-checks/")
    assert response.status_code == 200
    assert response.json()["recorded"] == {"directory_unchecked": 1}
    assert "not a directory address" in findings("directory_unchecked")[0].details["error"]


def _checking_out(terminal, *, started, contractor, facilities, security, site) -> Loan:
    """A check-out whose process did the directory unlock and then died: the loan still
    `checking_out` since `started`, the terminal reserved, the account locked in the database."""
    declaration = services.declaration_declare(actor=security, title="台風10号", sites=[site])
    request = services.access_request_submit(
        actor=contractor, declaration=declaration, work_site="千葉県館山市", quantity=1,
        operators=["山田 太郎"], purpose="停電復旧",
        needed_until=timezone.now() + datetime.timedelta(days=2),
    )  # fmt: skip
    approver = make_user("aki", "facilities", facilities.organization)
    services.access_request_approve(request=request, actor=approver)
    Terminal.objects.filter(pk=terminal.pk).update(status=Terminal.Status.RESERVED)
    return Loan.objects.create(
        request=request, terminal=terminal, status=LoanStatus.CHECKING_OUT,
        work_site="千葉県館山市", operator_name="山田 太郎", handed_out_by=facilities,
        checked_out_at=started, due_at=started + datetime.timedelta(days=2),
        acknowledgement_text="誓約", acknowledged_name="山田 太郎", acknowledged_at=started,
    )  # fmt: skip


def test_an_account_a_cut_off_checkout_left_unlocked_on_the_directory_is_found(
    directory, cabinet, site, contractor, facilities, security, settings,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    settings.CHECKOUT_STUCK_SECONDS = 120
    terminal = make_terminal(location=cabinet)
    account = rotated_account(directory, terminal, django_capture_on_commit_callbacks)
    now = timezone.now()
    loan = _checking_out(
        terminal, started=now - datetime.timedelta(seconds=30), contractor=contractor,
        facilities=facilities, security=security, site=site,
    )  # fmt: skip
    connector_for(directory).unlock(account.login_id)
    account.refresh_from_db()
    assert account.state == "locked"

    # Handed out right now: unlocked a moment before the database says so.
    assert run_policy_checks(now=now).get("unlocked_on_directory") is None
    # Still handing out long after any check-out ends: its process died after the unlock.
    later = now + datetime.timedelta(seconds=180)
    assert run_policy_checks(now=later).get("unlocked_on_directory") == 1
    (finding,) = findings("unlocked_on_directory")
    assert (finding.account, finding.terminal) == (account, terminal)
    loan.refresh_from_db()
    assert loan.status == LoanStatus.CHECKING_OUT
