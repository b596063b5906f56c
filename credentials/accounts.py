"""Accounts: creating one for a terminal (its first values come from a rotation), locking,
unlocking and deleting it on its target and here, and deleting a retired terminal's accounts.
Slow I/O (the target) runs between two transactions: the first refuses what the account's state
does not allow before the target is touched, the second records what the target did."""

import logging

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import record_event, record_events
from core.errors import InvalidInput, RuleViolation, TransitionNotAllowed, created_unless_taken
from core.models import User
from core.queue import enqueue
from core.transitions import check_transition
from credentials.models import Account, AccountState, LoginIdRecord, RotationReason, TargetSystem
from credentials.rotation import rotation_open
from credentials.targets import connector_for, unused_login_id
from terminals.models import Terminal

logger = logging.getLogger(__name__)


@transaction.atomic
def account_create(
    *, actor: User | None, target_system: TargetSystem, terminal: Terminal
) -> Account:
    """A new account for a terminal: its first login ID and password come from a rotation."""
    if terminal.status == Terminal.Status.RETIRED:
        raise RuleViolation(_("A retired terminal keeps no accounts."))
    taken = {"target_system": [_("This terminal already has an account on this target system.")]}
    if (
        Account.objects.filter(target_system=target_system, terminal=terminal)
        .exclude(state=AccountState.DELETED)
        .exists()
    ):
        raise InvalidInput(_("The account was not created."), field_errors=taken)
    account = created_unless_taken(
        lambda: Account.objects.create(
            target_system=target_system,
            terminal=terminal,
            login_id=unused_login_id(target_system),
            state=AccountState.ROTATION_PENDING,
        ),
        _("The account was not created."),
        taken,
    )
    record_event(
        actor=actor,
        action="account.created",
        obj=account,
        details={"target_system": target_system.code, "terminal": terminal.asset_tag},
    )
    rotation_open(account=account, reason=RotationReason.INITIAL, actor=actor)
    return account


def _change_lock(*, account: Account, actor: User | None, to_state: str) -> Account:
    with transaction.atomic():
        locked = (
            Account.objects.select_for_update(of=("self",))
            .select_related("target_system")
            .get(pk=account.pk)
        )
        check_transition(locked, to_state, field="state")  # refuse before touching the target
    connector = connector_for(locked.target_system)
    (connector.unlock if to_state == AccountState.UNLOCKED else connector.lock)(locked.login_id)
    with transaction.atomic():
        locked = Account.objects.select_for_update(of=("self",)).get(pk=account.pk)
        check_transition(locked, to_state, field="state")
        locked.state = to_state
        locked.save(update_fields=["state"])
        record_event(
            actor=actor,
            action=f"account.{to_state}",
            obj=locked,
            details={"login_id": locked.login_id, "target_system": locked.target_system.code},
        )
    return locked


def account_unlock(*, account: Account, actor: User | None) -> Account:
    return _change_lock(account=account, actor=actor, to_state=AccountState.UNLOCKED)


def account_lock(*, account: Account, actor: User | None) -> Account:
    return _change_lock(account=account, actor=actor, to_state=AccountState.LOCKED)


def accounts_unlock_on_targets(*, accounts: list[Account], unlocked: list[Account]) -> None:
    """The slow half of unlocking several accounts at once (a check-out unlocks every account
    of the terminal), outside any transaction: refuse, before touching any target, what an
    account's state does not allow, then unlock each on its target in order, appending it to
    `unlocked` as its target answers. A target that fails raises ConnectorError: `unlocked`
    then holds the accounts opened before it. The accounts come with their target system;
    `accounts_record_state` records the result in the caller's transaction."""
    for account in accounts:
        check_transition(account, AccountState.UNLOCKED, field="state")
    for account in accounts:
        connector_for(account.target_system).unlock(account.login_id)
        unlocked.append(account)


def accounts_lock_on_targets(*, accounts: list[Account]) -> list[Account]:
    """Best effort, outside any transaction: lock each account on its target now, recording
    nothing (a revocation's rotations, already committed, lock them and record it). A target
    that fails is logged and the others are still locked. Answers the accounts it locked."""
    locked = []
    for account in accounts:
        try:
            connector_for(account.target_system).lock(account.login_id)
        except Exception:  # the committed rotation locks it all the same, retrying
            logger.warning("account %s could not be locked at once", account.pk, exc_info=True)
            continue
        locked.append(account)
    return locked


def accounts_record_state(*, accounts: list[Account], actor: User | None, to_state: str) -> None:
    """Record in the caller's transaction that the targets locked or unlocked these accounts:
    one conditional UPDATE (the row locks, and the check that each may still make the change:
    a state changed since refuses the whole change), and each account's audit event."""
    if not accounts:
        return
    allowed_from = [
        state for state, targets in Account.ALLOWED_TRANSITIONS.items() if to_state in targets
    ]
    pks = [account.pk for account in accounts]
    changed = Account.objects.filter(pk__in=pks, state__in=allowed_from).update(state=to_state)
    if changed != len(set(pks)):
        for current in Account.objects.filter(pk__in=pks):
            check_transition(current, to_state, field="state")
        raise RuleViolation(_("An account's state changed in the meantime; try again."))
    for account in accounts:
        account.state = to_state
    record_events(
        actor=actor,
        events=[
            (
                f"account.{to_state}",
                account,
                {"login_id": account.login_id, "target_system": account.target_system.code},
            )
            for account in accounts
        ],
    )


def account_delete(*, account: Account, actor: User | None) -> Account:
    """Delete the account on its target, then here (no longer needed, or its terminal retired)."""
    with transaction.atomic():
        locked = (
            Account.objects.select_for_update(of=("self",))
            .select_related("target_system")
            .get(pk=account.pk)
        )
        check_transition(locked, AccountState.DELETED, field="state")
    connector_for(locked.target_system).delete(locked.login_id)
    with transaction.atomic():
        locked = Account.objects.select_for_update(of=("self",)).get(pk=account.pk)
        check_transition(locked, AccountState.DELETED, field="state")
        locked.state = AccountState.DELETED
        locked.save(update_fields=["state"])
        LoginIdRecord.objects.filter(account=locked, valid_until__isnull=True).update(
            valid_until=timezone.now()
        )
        record_event(
            actor=actor, action="account.deleted", obj=locked, details={"login_id": locked.login_id}
        )
    return locked


def accounts_delete_after_retirement(terminal: Terminal) -> None:
    """Retired terminals keep no accounts. The retirement (terminal `retired`, accounts not yet
    `deleted`) is itself the record of what remains to do: after its commit a worker is asked
    to delete them on their targets, and `retired_accounts_delete_pending`, run by the
    scheduler, deletes what a down broker or a dead process left. Sending never fails the
    retirement (core.queue.enqueue only logs a broker it cannot reach)."""
    terminal_id = terminal.pk
    transaction.on_commit(
        lambda: enqueue("credentials.tasks.delete_accounts_of_terminal", terminal_id)
    )


# States from which an account of a retired terminal is deleted. A `rotation_pending` one waits
# for its rotation (a worker is pushing to the target now; deleting under it would race), which
# leaves it `locked` or `rotation_failed`; the next sweep deletes it.
_DELETABLE = (AccountState.LOCKED, AccountState.ROTATION_FAILED)


def accounts_delete_for_terminal(*, terminal_id: int) -> int:
    """Delete every live account of a (retired) terminal on its target, then here."""
    return _delete_each(Account.objects.filter(terminal_id=terminal_id))


def retired_accounts_delete_pending() -> int:
    """The sweeper of retirements: delete every account of a retired terminal not deleted
    yet, on its target then here. Idempotent: an account already gone on its target counts
    as deleted (the connectors' delete accepts it). Answers how many it deleted."""
    return _delete_each(Account.objects.filter(terminal__status=Terminal.Status.RETIRED))


def _delete_each(accounts) -> int:
    count = 0
    pending = accounts.filter(state__in=_DELETABLE).select_related("target_system").order_by("pk")
    for account in pending:
        try:
            account_delete(account=account, actor=None)
        except TransitionNotAllowed:
            continue  # deleted meanwhile by another worker (the task and the sweeper at once)
        except Exception:  # this account stays for the next sweep; the others go on
            logger.warning("account %s could not be deleted", account.pk, exc_info=True)
            continue
        count += 1
    return count
