import pytest

from core.errors import RuleViolation
from core.models import AuditEvent
from credentials.permissions import register_reveal_policy, unregister_reveal_policy
from credentials.reveal import RevealRefused, secret_approve_extra_reveal, secret_reveal
from credentials.rotation import rotation_request
from credentials.secrets import secret_plaintext
from tests.credentials.helpers import rotated_account
from tests.support.db import nothing_written


@pytest.fixture
def account(local_target, terminal, django_capture_on_commit_callbacks):
    return rotated_account(local_target, terminal, django_capture_on_commit_callbacks)


@pytest.fixture
def contractor_may_reveal(contractor):
    def policy(user, account):
        return user.pk == contractor.pk

    register_reveal_policy(policy)
    yield
    unregister_reveal_policy(policy)


def test_nobody_may_reveal_without_a_policy_not_even_security(account, security, contractor):
    for user in (security, contractor):
        with nothing_written(account, account.current_version), pytest.raises(RuleViolation):
            secret_reveal(account=account, actor=user)
    assert not AuditEvent.objects.filter(action="secret.revealed").exists()


@pytest.mark.usefixtures("contractor_may_reveal")
def test_the_permitted_user_sees_it_once_and_the_reveal_is_an_event(account, contractor, outsider):
    with nothing_written(account, account.current_version), pytest.raises(RuleViolation):
        secret_reveal(account=account, actor=outsider)
    login_id, password = secret_reveal(account=account, actor=contractor)
    assert login_id == account.login_id
    assert password == secret_plaintext(account.current_version)
    event = AuditEvent.objects.get(action="secret.revealed")
    assert event.actor == contractor
    assert password not in str(event.details)
    with nothing_written(account, account.current_version), pytest.raises(RevealRefused):
        secret_reveal(account=account, actor=contractor)


@pytest.mark.usefixtures("contractor_may_reveal")
def test_a_security_officer_can_allow_exactly_one_more_reveal(
    account, contractor, security, facilities
):
    secret_reveal(account=account, actor=contractor)
    with nothing_written(account, account.current_version), pytest.raises(RuleViolation):
        secret_approve_extra_reveal(account=account, actor=facilities, reason="lost the paper")
    secret_approve_extra_reveal(account=account, actor=security, reason="lost the paper")
    assert secret_reveal(account=account, actor=contractor)[0] == account.login_id
    with nothing_written(account, account.current_version), pytest.raises(RevealRefused):
        secret_reveal(account=account, actor=contractor)
    assert AuditEvent.objects.filter(action="secret.extra_reveal_approved").count() == 1


@pytest.mark.usefixtures("contractor_may_reveal")
def test_a_rotation_makes_a_fresh_unrevealed_secret(
    account, contractor, django_capture_on_commit_callbacks
):
    secret_reveal(account=account, actor=contractor)
    with django_capture_on_commit_callbacks(execute=True):
        rotation_request(account=account, reason="return", actor=None)
    account.refresh_from_db()
    assert account.current_version.revealed_at is None
    assert secret_reveal(account=account, actor=contractor)[0] == account.login_id
