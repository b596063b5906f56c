"""Reads of credentials. No selector returns a password; only reveal.secret_reveal and the
manual-rotation page decrypt one."""

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from core.models import User
from credentials.models import (
    OPEN_ROTATION_STATUSES,
    Account,
    AccountState,
    Rotation,
    RotationStatus,
    TargetSystem,
)
from terminals.models import Terminal


def account_queryset(*, user: User) -> QuerySet[Account]:
    qs = Account.objects.select_related("target_system", "terminal", "current_version")
    return qs if user.has_perm("credentials.view_account") else qs.none()


def target_system_queryset(*, user: User) -> QuerySet[TargetSystem]:
    qs = TargetSystem.objects.all()
    return qs if user.has_perm("credentials.view_targetsystem") else qs.none()


def terminal_accounts(*, terminal: Terminal) -> QuerySet[Account]:
    return (
        terminal.accounts.exclude(state=AccountState.DELETED)
        .select_related("target_system", "current_version")
        .order_by("target_system__code")
    )


def rotation_queryset(*, user: User) -> QuerySet[Rotation]:
    qs = Rotation.objects.select_related(
        "account__target_system", "account__terminal", "requested_by"
    )
    return qs if user.has_perm("credentials.view_rotation") else qs.none()


def rotation_queue(*, user: User) -> QuerySet[Rotation]:
    """Open and failed rotations, oldest first: what security must watch."""
    return (
        rotation_queryset(user=user)
        .filter(status__in=[*OPEN_ROTATION_STATUSES, RotationStatus.FAILED])
        .exclude(status=RotationStatus.FAILED, account__state=AccountState.DELETED)
        .order_by("requested_at")
    )


def credential_blockers(*, terminal: Terminal, accounts: list[Account] | None = None) -> list[str]:
    """Why this terminal's accounts forbid lending it now (empty when they allow it). A caller
    that has read them already (the check-out) passes `accounts` from terminal_accounts."""
    reasons = []
    for account in terminal_accounts(terminal=terminal) if accounts is None else accounts:
        label = str(account)
        version = account.current_version
        if account.state == AccountState.ROTATION_PENDING:
            reasons.append(_("%(account)s: a rotation is pending.") % {"account": label})
        elif account.state == AccountState.ROTATION_FAILED:
            reasons.append(_("%(account)s: its last rotation failed.") % {"account": label})
        elif version is None:
            reasons.append(_("%(account)s: it has no current password.") % {"account": label})
        elif version.revealed_at is not None:
            reasons.append(
                _("%(account)s: its password was revealed and must be rotated first.")
                % {"account": label}
            )
    return reasons


def target_rotation_summary(*, target_system: TargetSystem) -> dict[str, int]:
    """What forcing a rotation of a whole target system touches, for its confirmation page:
    every account not deleted (`accounts`), of which `in_use` are unlocked on a lent terminal
    right now and `already_rotating` keep the rotation they already have."""
    accounts = Account.objects.filter(target_system=target_system).exclude(
        state=AccountState.DELETED
    )
    return {
        "accounts": accounts.count(),
        "in_use": accounts.filter(state=AccountState.UNLOCKED).count(),
        "already_rotating": accounts.filter(rotations__status__in=OPEN_ROTATION_STATUSES)
        .distinct()
        .count(),
    }
