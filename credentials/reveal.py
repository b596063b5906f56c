"""Reveal: an account's current login ID and password, shown once to whoever the reveal policy
(permissions.py) allows; one more reveal needs a security officer's approval."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import record_event
from core.errors import InvalidInput, RuleViolation
from core.models import User
from credentials.models import Account, AccountState, SecretVersion
from credentials.permissions import may_reveal, require_rotation_authority
from credentials.secrets import secret_plaintext


class RevealRefused(RuleViolation):
    """The secret was already revealed: ask a security officer."""

    http_status = 410


@transaction.atomic
def secret_reveal(*, account: Account, actor: User) -> tuple[str, str]:
    """The current login ID and password, once, to whoever the reveal policy allows. The event
    is written in the same transaction: no event, no reveal."""
    account = (
        Account.objects.select_for_update(of=("self",))
        .select_related("current_version")
        .get(pk=account.pk)
    )
    if not may_reveal(actor, account):
        raise RuleViolation(_("You may not reveal this account's password."))
    version = account.current_version
    if version is None or account.state in (
        AccountState.ROTATION_PENDING,
        AccountState.ROTATION_FAILED,
        AccountState.DELETED,
    ):
        raise RuleViolation(_("This account has no current password to reveal."))
    version = SecretVersion.objects.select_for_update(of=("self",)).get(pk=version.pk)
    extra = version.revealed_at is not None
    if extra and version.extra_reveal_approved_by_id is None:
        raise RevealRefused(
            _(
                "This password was already shown once. "
                "Ask a security officer to approve one more reveal."
            )
        )
    version.revealed_at, version.revealed_by = timezone.now(), actor
    version.extra_reveal_approved_by = None  # an approval is good for one reveal
    version.save(update_fields=["revealed_at", "revealed_by", "extra_reveal_approved_by"])
    record_event(
        actor=actor,
        action="secret.revealed",
        obj=account,
        details={"version": version.version, "login_id": version.login_id, "again": extra},
    )
    return version.login_id, secret_plaintext(version)


@transaction.atomic
def secret_approve_extra_reveal(*, account: Account, actor: User, reason: str) -> SecretVersion:
    require_rotation_authority(actor)
    if not reason.strip():
        raise InvalidInput(
            _("No approval was recorded."), field_errors={"reason": [_("A reason is required.")]}
        )
    account = Account.objects.select_for_update(of=("self",)).get(pk=account.pk)
    if account.current_version_id is None:
        raise RuleViolation(_("This account has no current password."))
    version = SecretVersion.objects.select_for_update(of=("self",)).get(
        pk=account.current_version_id
    )
    if version.revealed_at is None:
        raise RuleViolation(_("This password has not been revealed yet; no approval is needed."))
    version.extra_reveal_approved_by = actor
    version.save(update_fields=["extra_reveal_approved_by"])
    record_event(
        actor=actor,
        action="secret.extra_reveal_approved",
        obj=account,
        details={"version": version.version, "reason": reason},
    )
    return version
