"""Rotation: an account's login ID and password changed to new random values on its target.
A rotation is crash-safe in three steps:

1. (transaction) the new login ID and password are stored as a *pending* secret version;
2. (no transaction: slow I/O) the connector pushes exactly that pending value to the target;
3. (transaction) the pending version becomes current and the old one is retired.

A crash anywhere leaves the pending version in place, so a retry pushes the same values again
(connectors are idempotent) and the target and the database agree at the end.

Rotations travel and run in batches: the rotations a transaction asks for go to the workers as
one message per `BATCH_SIZE` once it commits (the sweeper sends the same way), and a worker runs
steps 1 and 3 of a whole batch as a handful of set-based statements. A rotation that fails in a
set-based step is tried again alone, and a target that refuses one account fails that account
only: one failure never fails the batch.
"""

import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import record_event, record_events
from core.errors import RuleViolation
from core.models import User
from core.queue import enqueue, enqueue_on_commit
from core.roles import Role, user_role
from core.selectors import emails_of_users_holding
from core.transitions import check_transition
from credentials.connectors import Connector, ConnectorError
from credentials.generation import PasswordPolicy, generate_password
from credentials.models import (
    OPEN_ROTATION_STATUSES,
    Account,
    AccountState,
    ConnectorKind,
    LoginIdRecord,
    Rotation,
    RotationReason,
    RotationStatus,
    SecretStatus,
    SecretVersion,
    TargetSystem,
)
from credentials.permissions import DECIDES_ROTATIONS, require_rotation_authority
from credentials.secrets import secret_encrypt, secret_plaintext
from credentials.targets import connector_for, policy_of, unused_login_ids

logger = logging.getLogger(__name__)

# Rotations per worker message: large enough that a batch's fixed statements are a small share
# of each rotation's, small enough that a slow target delays few others.
BATCH_SIZE = 50
ONE_ROTATION_TASK = "credentials.tasks.rotate_account"
BATCH_TASK = "credentials.tasks.rotate_accounts"

# What a rotation came to in a worker: its status afterwards, or the error that stopped it
# (a ConnectorError from the target, or any other error, which leaves it for the sweeper).
Outcome = str | Exception


# Requests ---------------------------------------------------------------------------------------


def rotation_request(*, account: Account, reason: str, actor: User | None) -> Rotation:
    """Ask for a rotation in the caller's transaction; the worker is asked after the commit.
    An account with a rotation already open keeps that one (a second would change nothing)."""
    (rotation,) = rotations_request(accounts=[account], reason=reason, actor=actor)
    return rotation


def rotations_request(
    *, accounts: Iterable[Account], reason: str, actor: User | None
) -> list[Rotation]:
    """`rotation_request` for many accounts at once, in set-based statements: one rotation per
    account, in the order given (the open one for an account that has one).

    In the caller's transaction without a savepoint: every check is made before the first
    write, so a refusal leaves the caller's transaction as it was."""
    if not transaction.get_connection().in_atomic_block:
        with transaction.atomic():
            return rotations_request(accounts=accounts, reason=reason, actor=actor)
    pks = list(dict.fromkeys(account.pk for account in accounts))
    if not pks:
        return []
    locked = {
        account.pk: account
        for account in Account.objects.select_for_update(of=("self",))
        .filter(pk__in=pks)
        .order_by("pk")
    }
    missing = [pk for pk in pks if pk not in locked]
    if missing:
        raise Account.DoesNotExist(f"no account {missing[0]}")
    # An account is rotation_pending exactly while a rotation of it is open.
    pending = [
        pk for pk, account in locked.items() if account.state == AccountState.ROTATION_PENDING
    ]
    existing: dict[int, Rotation] = {}
    if pending:
        existing = {
            rotation.account_id: rotation
            for rotation in Rotation.objects.filter(
                account_id__in=pending, status__in=OPEN_ROTATION_STATUSES
            )
        }
    to_open = [locked[pk] for pk in pks if pk not in existing]
    for account in to_open:
        check_transition(account, AccountState.ROTATION_PENDING, field="state")
    opened: dict[int, Rotation] = {}
    if to_open:
        Account.objects.filter(pk__in=[a.pk for a in to_open]).update(
            state=AccountState.ROTATION_PENDING
        )
        for account in to_open:
            account.state = AccountState.ROTATION_PENDING
        opened = {
            rotation.account_id: rotation
            for rotation in _rotations_open(accounts=to_open, reason=reason, actor=actor)
        }
    return [existing.get(pk) or opened[pk] for pk in pks]


def rotation_open(*, account: Account, reason: str, actor: User | None) -> Rotation:
    """A rotation of an account already `rotation_pending` (a new one, or one the caller has just
    changed under its lock); the worker is asked after the commit."""
    (rotation,) = _rotations_open(accounts=[account], reason=reason, actor=actor)
    return rotation


def _rotations_open(
    *, accounts: Sequence[Account], reason: str, actor: User | None
) -> list[Rotation]:
    rotations = Rotation.objects.bulk_create(
        [Rotation(account=account, reason=reason, requested_by=actor) for account in accounts]
    )
    record_events(
        actor=actor,
        events=[
            (
                "rotation.requested",
                rotation,
                {"account": account.pk, "login_id": account.login_id, "reason": reason},
            )
            for rotation, account in zip(rotations, accounts, strict=True)
        ],
    )
    _dispatch_after_commit([rotation.pk for rotation in rotations])
    return rotations


class _DispatchBatch:
    """The rotations one transaction asked for, sent together once it commits."""

    def __init__(self) -> None:
        self.rotation_ids: list[int] = []
        self.sent = False
        self.callback = self.send  # one bound method, found again in run_on_commit

    def send(self) -> None:
        self.sent = True
        rotations_dispatch(rotation_ids=self.rotation_ids)


def _dispatch_after_commit(rotation_ids: list[int]) -> None:
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        rotations_dispatch(rotation_ids=rotation_ids)
        return
    batch: _DispatchBatch | None = getattr(connection, "_rotation_dispatch_batch", None)
    # Requests that follow each other in one transaction share a message: the batch is reused
    # while its callback is the last one waiting for the commit (gone after a commit or a
    # rollback; followed by another callback, e.g. an email, the next requests start a new one,
    # so that what the commit sends keeps the order in which it was asked).
    if (
        batch is None
        or batch.sent
        or not connection.run_on_commit
        or connection.run_on_commit[-1][1] is not batch.callback
    ):
        batch = _DispatchBatch()
        connection._rotation_dispatch_batch = batch
        # Robust: a database or broker gone between the commit and this callback is logged, and
        # the sweeper sends the rotations; the request that committed them never fails here.
        transaction.on_commit(batch.callback, robust=True)
    # An id whose savepoint was rolled back may stay in the list: the worker skips it.
    batch.rotation_ids.extend(rotation_ids)


def rotations_dispatch(*, rotation_ids: Sequence[int]) -> None:
    """Send requested rotations to the workers, `BATCH_SIZE` per message. A broker that is down
    is only logged: the sweeper re-sends every rotation that has waited too long."""
    for start in range(0, len(rotation_ids), BATCH_SIZE):
        chunk = list(rotation_ids[start : start + BATCH_SIZE])
        # Marked before it is sent: once sent, a worker may already hold these rows locked.
        sending = Rotation.objects.filter(pk__in=chunk)
        sending.update(dispatched_at=timezone.now())
        sent = (
            enqueue(ONE_ROTATION_TASK, chunk[0]) if len(chunk) == 1 else enqueue(BATCH_TASK, chunk)
        )
        if not sent:
            sending.update(dispatched_at=None)
            if len(chunk) == 1:
                logger.warning("rotation %s was not sent; the sweeper will resend it", chunk[0])
            else:
                logger.warning(
                    "rotations %s were not sent; the sweeper will resend them",
                    ", ".join(map(str, chunk)),
                )


def rotation_resend_stale(*, older_than_seconds: int | None = None) -> int:
    """Re-send every requested rotation not sent, or sent long enough ago to have been lost."""
    wait = (
        older_than_seconds
        if older_than_seconds is not None
        else settings.ROTATION_RESEND_AFTER_SECONDS
    )
    cutoff = timezone.now() - timedelta(seconds=wait)
    stale = Rotation.objects.filter(
        status=RotationStatus.REQUESTED, requested_at__lt=cutoff
    ).filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=cutoff))
    ids = list(stale.order_by("pk").values_list("pk", flat=True))
    rotations_dispatch(rotation_ids=ids)
    return len(ids)


# Running rotations (the worker's job) -----------------------------------------------------------


@dataclass
class _Push:
    """One rotation between steps 1 and 3: what its connector must be told."""

    rotation: Rotation
    target: TargetSystem
    old_login_id: str
    new_login_id: str
    password: str


def rotation_perform(*, rotation_id: int) -> str:
    """Run one rotation. Returns the rotation's status afterwards; raises the error that stopped
    it (a ConnectorError when the target failed: the task decides whether to retry)."""
    outcome = rotations_perform(rotation_ids=[rotation_id]).get(rotation_id)
    if outcome is None:
        raise Rotation.DoesNotExist(f"no rotation {rotation_id}")
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def rotations_perform(*, rotation_ids: Iterable[int], coalesce: int = 0) -> dict[int, Outcome]:
    """Run a batch of rotations: each one's status afterwards, or the error that stopped it.
    Never raises for one rotation's sake. An id with no rotation (its request rolled back) is
    left out.

    With `coalesce`, up to that many other rotations still waiting for their own message are
    taken up too (those no other worker holds), and their outcomes are in the answer: under a
    burst of returns, a worker rotates in batches rather than one message at a time."""
    ids = sorted(set(rotation_ids))
    outcomes: dict[int, Outcome] = {}
    pushes = _one_at_a_time_if_needed(
        lambda batch: _prepare_pending(batch, coalesce=coalesce if batch == ids else 0),
        ids,
        outcomes,
    )
    # Rotations not requested any more (a duplicate delivery, one already finished) and
    # rotations of manual targets end here.
    ready = {push.rotation.pk for push in pushes}
    # Taken up by another worker ahead of its message, or done: as the database says now.
    unready = [pk for pk in ids if pk not in ready and pk not in outcomes]
    if unready:
        outcomes.update(Rotation.objects.filter(pk__in=unready).values_list("pk", "status"))
    pushed = []
    connectors: dict[int, Connector] = {}
    for push in pushes:
        rotation = push.rotation
        if push.target.connector == ConnectorKind.MANUAL:
            _await_admin(rotation)
            outcomes[rotation.pk] = RotationStatus.AWAITING_ADMIN
            continue
        try:
            connector = connectors.get(push.target.pk)
            if connector is None:
                connector = connectors[push.target.pk] = connector_for(push.target)
            connector.apply_rotation(
                old_login_id=push.old_login_id,
                new_login_id=push.new_login_id,
                password=push.password,
            )
        except ConnectorError as exc:  # this account's failure; the others go on
            outcomes[rotation.pk] = exc
            continue
        except Exception as exc:
            # Not the connector's own words, but the target's failure all the same: counted as
            # one, so that the rotation fails after its retries and alerts security instead of
            # being sent again for ever.
            # (its message is not logged: a library's message may quote the request)
            logger.warning("rotation %s: the connector failed: %s", rotation.pk, type(exc).__name__)
            outcomes[rotation.pk] = ConnectorError(
                f"{push.target.code}: the connector failed ({type(exc).__name__})"
            )
            continue
        pushed.append(rotation.pk)
    _one_at_a_time_if_needed(
        lambda batch: _make_current(rotation_ids=batch, actor=None), pushed, outcomes
    )
    for pk in pushed:
        outcomes.setdefault(pk, RotationStatus.SUCCEEDED)
    return outcomes


def _one_at_a_time_if_needed(step, ids: list[int], outcomes: dict[int, Outcome]) -> list:
    """Run a set-based step on the whole batch; if it fails, on each rotation alone, so that
    the rotation that made it fail is the only one to fail (its error goes to `outcomes`)."""
    if not ids:
        return []
    try:
        return list(step(ids))
    except Exception as exc:
        if len(ids) == 1:
            logger.warning("rotation %s failed", ids[0], exc_info=True)
            outcomes[ids[0]] = exc
            return []
        logger.warning("a batch of %s rotations failed; trying one at a time", len(ids))
    results = []
    for pk in ids:
        try:
            results += step([pk])
        except Exception as exc:
            logger.warning("rotation %s failed", pk, exc_info=True)
            outcomes[pk] = exc
    return results


def _prepare_pending(rotation_ids: list[int], *, coalesce: int = 0) -> list[_Push]:
    """Step 1, set-based: store the new values as pending (or find the ones a crashed try
    stored) for every rotation of the batch still requested and not in another worker's hands,
    and for up to `coalesce` others never tried yet (see rotations_perform). Five statements
    for a batch, two more when it takes others up."""
    with transaction.atomic():
        now = timezone.now()
        # No default ordering: it joins the account and its target into each subquery, which
        # PostgreSQL then plans at every claim (an account has at most one pending version).
        versions = SecretVersion.objects.filter(account=OuterRef("account")).order_by()
        requested = (
            Rotation.objects.select_related("account__target_system", "pending_version")
            .annotate(
                last_version=Subquery(versions.order_by("-version").values("version")[:1]),
                # left by a rotation of the account that failed: pushed again, not replaced
                left_pending=Subquery(
                    versions.filter(status=SecretStatus.PENDING).values("pk")[:1]
                ),
            )
            .filter(status=RotationStatus.REQUESTED)
            .order_by("pk")
        )
        rotations = list(
            requested.select_for_update(of=("self",))
            .filter(pk__in=rotation_ids)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        )
        taken_up = []
        if coalesce:
            # Never tried and in nobody's hands; one another worker is locking is skipped.
            taken_up = list(
                requested.select_for_update(of=("self",), skip_locked=True)
                .filter(pending_version__isnull=True, claimed_until__isnull=True)
                .exclude(pk__in=rotation_ids)[:coalesce]
            )
            if taken_up:
                # As if sent now: the sweeper leaves it alone while it is in hand.
                Rotation.objects.filter(pk__in=[r.pk for r in taken_up]).update(
                    dispatched_at=now,
                    claimed_until=now + timedelta(seconds=settings.ROTATION_RESEND_AFTER_SECONDS),
                )
                rotations += taken_up
        if not rotations:
            return []
        left = [
            r.left_pending
            for r in rotations
            if r.pending_version_id is None and r.left_pending is not None
        ]
        left_versions = SecretVersion.objects.in_bulk(left) if left else {}
        fresh = [r for r in rotations if r.pending_version_id is None and r.left_pending is None]
        by_target: dict[int, list] = {}
        for rotation in fresh:
            by_target.setdefault(rotation.account.target_system_id, []).append(rotation)
        passwords: dict[int, str] = {}
        created = []
        for group in by_target.values():
            target = group[0].account.target_system
            policy: PasswordPolicy = policy_of(target)
            for rotation, login_id in zip(group, unused_login_ids(target, len(group)), strict=True):
                pending = SecretVersion(
                    account=rotation.account,
                    version=(rotation.last_version or 0) + 1,
                    login_id=login_id,
                    status=SecretStatus.PENDING,
                )
                passwords[rotation.pk] = generate_password(policy)
                secret_encrypt(pending, passwords[rotation.pk])
                rotation.pending_version = pending
                created.append(pending)
        SecretVersion.objects.bulk_create(created)
        for rotation in rotations:
            if rotation.pending_version_id is None:
                # made above (now saved), or left by a failed rotation
                rotation.pending_version = (
                    rotation.pending_version or left_versions[rotation.left_pending]
                )
            rotation.attempts += 1
        # Each rotation's pending version is its account's only pending one.
        Rotation.objects.filter(pk__in=[r.pk for r in rotations]).update(
            attempts=F("attempts") + 1,
            pending_version=Subquery(versions.filter(status=SecretStatus.PENDING).values("pk")[:1]),
        )
    pushes = []
    for rotation in rotations:
        stored = rotation.pending_version
        assert stored is not None, "stored just above, or by an earlier try"
        password = passwords.get(rotation.pk)
        pushes.append(
            _Push(
                rotation=rotation,
                target=rotation.account.target_system,
                old_login_id=rotation.account.login_id,
                new_login_id=stored.login_id,
                password=password if password is not None else secret_plaintext(stored),
            )
        )
    return pushes


@transaction.atomic
def _await_admin(rotation: Rotation) -> None:
    updated = Rotation.objects.filter(pk=rotation.pk, status=RotationStatus.REQUESTED).update(
        status=RotationStatus.AWAITING_ADMIN
    )
    if updated:
        pending = rotation.pending_version
        assert pending is not None, "a rotation awaits its administrator once _prepare_pending ran"
        record_event(
            actor=None,
            action="rotation.awaiting_admin",
            obj=rotation,
            details={"account": rotation.account_id, "version": pending.version},
        )


def _make_current(
    *, rotation_ids: list[int], actor: User | None, expected: str = RotationStatus.REQUESTED
) -> list[int]:
    """Step 3, set-based: the target accepted the pending values; make them current. Seven
    statements for a batch, and its audit events. Returns the rotations it finished (those a
    duplicate delivery finished already are left alone)."""
    with transaction.atomic():
        rotations = list(
            Rotation.objects.select_for_update(of=("self", "account"))
            .select_related("account__current_version", "pending_version")
            .filter(pk__in=rotation_ids, status=expected)
            .order_by("pk")
        )
        if not rotations:
            return []
        pendings: dict[int, SecretVersion] = {}
        for rotation in rotations:
            pending = rotation.pending_version
            assert pending is not None, "stored before the target was asked"
            pendings[rotation.pk] = pending
            check_transition(rotation.account, AccountState.LOCKED, field="state")
        now = timezone.now()
        account_ids = [r.account_id for r in rotations]
        old_versions = {r.pk: r.account.current_version for r in rotations}
        retired = [v.pk for v in old_versions.values() if v is not None]
        if retired:
            SecretVersion.objects.filter(pk__in=retired).update(status=SecretStatus.RETIRED)
        LoginIdRecord.objects.filter(account_id__in=account_ids, valid_until__isnull=True).update(
            valid_until=now
        )
        LoginIdRecord.objects.bulk_create(
            LoginIdRecord(account_id=r.account_id, login_id=pendings[r.pk].login_id, valid_from=now)
            for r in rotations
        )
        SecretVersion.objects.filter(pk__in=[r.pending_version_id for r in rotations]).update(
            status=SecretStatus.CURRENT, became_current_at=now
        )
        old_login_ids = {}
        for rotation in rotations:
            account, pending = rotation.account, pendings[rotation.pk]
            old_login_ids[rotation.pk] = account.login_id
            pending.status, pending.became_current_at = SecretStatus.CURRENT, now
            account.state, account.login_id = AccountState.LOCKED, pending.login_id
            account.current_version, account.rotated_at = pending, now
        # Each account's current version is now the one that was pending (one per account).
        current = SecretVersion.objects.filter(account=OuterRef("pk"), status=SecretStatus.CURRENT)
        Account.objects.filter(pk__in=account_ids).update(
            state=AccountState.LOCKED,
            rotated_at=now,
            current_version=Subquery(current.values("pk")[:1]),
            login_id=Subquery(current.values("login_id")[:1]),
        )
        Rotation.objects.filter(pk__in=[r.pk for r in rotations]).update(
            status=RotationStatus.SUCCEEDED, finished_at=now, last_error=""
        )
        succeeded = []
        for rotation in rotations:
            old_version = old_versions[rotation.pk]
            rotation.status, rotation.finished_at, rotation.last_error = (
                RotationStatus.SUCCEEDED,
                now,
                "",
            )
            succeeded.append(
                (
                    "rotation.succeeded",
                    rotation,
                    {
                        "account": rotation.account_id,
                        "reason": rotation.reason,
                        "old_login_id": old_login_ids[rotation.pk],
                        "new_login_id": pendings[rotation.pk].login_id,
                        "old_version": old_version.version if old_version else None,
                        "new_version": pendings[rotation.pk].version,
                        "attempts": rotation.attempts,
                    },
                )
            )
        record_events(actor=actor, events=succeeded)
    return [rotation.pk for rotation in rotations]


def rotation_note_error(*, rotation_id: int, error: str) -> None:
    """A try failed and is retried: by whichever worker the retry reaches."""
    Rotation.objects.filter(pk=rotation_id).update(last_error=error[:2000], claimed_until=None)


@transaction.atomic
def rotation_fail(*, rotation_id: int, error: str) -> None:
    """After the last retry: the account is `rotation_failed`, which blocks lending, and
    security officers are told by email."""
    rotation = (
        Rotation.objects.select_for_update(of=("self",))
        .select_related("account__terminal")
        .get(pk=rotation_id)
    )
    if rotation.status != RotationStatus.REQUESTED:
        return
    account = Account.objects.select_for_update(of=("self",)).get(pk=rotation.account_id)
    check_transition(account, AccountState.ROTATION_FAILED, field="state")
    account.state = AccountState.ROTATION_FAILED
    account.save(update_fields=["state"])
    rotation.status, rotation.finished_at, rotation.last_error = (
        RotationStatus.FAILED,
        timezone.now(),
        error[:2000],
    )
    rotation.save(update_fields=["status", "finished_at", "last_error"])
    record_event(
        actor=None,
        action="rotation.failed",
        obj=rotation,
        details={
            "account": account.pk,
            "reason": rotation.reason,
            "error": error[:500],
            "attempts": rotation.attempts,
        },
    )
    # Through the outbox: a mail server that is down, or a worker killed after this commit, delays
    # the alert (the task retries, the sweeper resends) but never loses it.
    enqueue_on_commit("credentials.tasks.alert_rotation_failed", rotation.pk)


def rotation_failed_alert(*, rotation_id: int) -> int:
    """Email security officers that a rotation failed for good (the outbox's task); answers how
    many were told. Raises when the mail server refuses, so that the task tries again."""
    rotation = Rotation.objects.select_related("account__terminal", "account__target_system").get(
        pk=rotation_id
    )
    recipients = emails_of_users_holding(DECIDES_ROTATIONS)
    if not recipients:
        return 0
    account_label, terminal_tag = str(rotation.account), rotation.account.terminal.asset_tag
    error = rotation.last_error
    send_mail(
        subject=_("Rotation failed: %(account)s (terminal %(tag)s)")
        % {"account": account_label, "tag": terminal_tag},
        message=_(
            "The rotation of %(account)s on terminal %(tag)s failed after every retry:\n"
            "%(error)s\n\n"
            "The terminal cannot be lent until a rotation succeeds. Force a new rotation from the "
            "rotation queue once the target system is reachable."
        )
        % {"account": account_label, "tag": terminal_tag, "error": error},
        from_email=None,
        recipient_list=recipients,
    )
    return len(recipients)


def retry_delay(retries: int) -> float:
    """Exponential backoff with full jitter, capped."""
    cap = settings.ROTATION_RETRY_MAX_DELAY_SECONDS
    return random.uniform(0, min(cap, settings.ROTATION_RETRY_BASE_DELAY_SECONDS * 2**retries))  # noqa: S311


@transaction.atomic
def rotation_request_aged(*, now=None) -> int:
    """Request a rotation of every locked account whose secret is older than its target's
    maximum age. Unlocked accounts are on loan: their return rotates them anyway."""
    now = now or timezone.now()
    aged = []
    accounts = Account.objects.filter(state=AccountState.LOCKED).select_related(
        "target_system", "current_version"
    )
    for account in accounts:
        became_current = (
            account.current_version.became_current_at if account.current_version else None
        )
        max_age = timedelta(days=account.target_system.max_secret_age_days)
        if became_current is None or now - became_current >= max_age:
            aged.append(account)
    for start in range(0, len(aged), BATCH_SIZE):
        rotations_request(
            accounts=aged[start : start + BATCH_SIZE], reason=RotationReason.SCHEDULED, actor=None
        )
    return len(aged)


@transaction.atomic
def rotation_force(*, actor: User, accounts) -> list[Rotation]:
    """A security officer's forced rotation of one account, a terminal's or a target's."""
    require_rotation_authority(actor)
    by_reason: dict[str, list[Account]] = {RotationReason.RETRY: [], RotationReason.FORCED: []}
    order = []
    for account in accounts:
        if account.state == AccountState.DELETED:
            continue
        reason = (
            RotationReason.RETRY
            if account.state == AccountState.ROTATION_FAILED
            else RotationReason.FORCED
        )
        by_reason[reason].append(account)
        order.append(account.pk)
    rotations: dict[int, Rotation] = {}
    for why, group in by_reason.items():
        for rotation in rotations_request(accounts=group, reason=why, actor=actor):
            rotations[rotation.account_id] = rotation
    return [rotations[pk] for pk in order]


# Manual targets: an administrator sets the values by hand, a second person verifies ----------


# Roles that only read: never shown a password, even if named a target's administrator.
_READ_ONLY_ROLES = frozenset({Role.AUDITOR.value, Role.CONTRACTOR.value})


def _require_manual_admin(rotation: Rotation, actor: User) -> None:
    if not rotation.account.target_system.administrators.filter(pk=actor.pk).exists():
        raise RuleViolation(_("Only an administrator of this target system may do this."))
    if user_role(actor) in _READ_ONLY_ROLES:
        raise RuleViolation(
            _(
                "Auditors and contractors are never shown a password: a security officer or "
                "facilities staff sets this target's values."
            )
        )


def manual_rotation_values(*, rotation: Rotation, actor: User) -> tuple[str, str]:
    """The pending login ID and password, shown to the target's administrators only."""
    with transaction.atomic():
        rotation = (
            Rotation.objects.select_for_update(of=("self",))
            .select_related("account__target_system", "pending_version")
            .get(pk=rotation.pk)
        )
        if rotation.status not in (
            RotationStatus.AWAITING_ADMIN,
            RotationStatus.AWAITING_VERIFICATION,
        ):
            raise RuleViolation(_("This rotation is not waiting for an administrator."))
        _require_manual_admin(rotation, actor)
        pending = rotation.pending_version
        assert pending is not None, "a rotation awaits its administrator once _prepare_pending ran"
        record_event(
            actor=actor,
            action="rotation.manual_values_shown",
            obj=rotation,
            details={"account": rotation.account_id, "version": pending.version},
        )
        return pending.login_id, secret_plaintext(pending)


@transaction.atomic
def manual_rotation_confirm_set(*, rotation: Rotation, actor: User) -> Rotation:
    rotation = (
        Rotation.objects.select_for_update(of=("self",))
        .select_related("account__target_system")
        .get(pk=rotation.pk)
    )
    if rotation.status != RotationStatus.AWAITING_ADMIN:
        raise RuleViolation(_("This rotation is not waiting for an administrator."))
    _require_manual_admin(rotation, actor)
    rotation.status, rotation.set_confirmed_by = RotationStatus.AWAITING_VERIFICATION, actor
    rotation.save(update_fields=["status", "set_confirmed_by"])
    record_event(
        actor=actor,
        action="rotation.manual_set_confirmed",
        obj=rotation,
        details={"account": rotation.account_id},
    )
    return rotation


@transaction.atomic
def manual_rotation_verify(*, rotation: Rotation, actor: User) -> Rotation:
    """A second person signed in with the new values: only now are they current."""
    rotation = (
        Rotation.objects.select_for_update(of=("self",))
        .select_related("account__target_system")
        .get(pk=rotation.pk)
    )
    if rotation.status != RotationStatus.AWAITING_VERIFICATION:
        raise RuleViolation(_("This rotation is not waiting for verification."))
    _require_manual_admin(rotation, actor)
    if rotation.set_confirmed_by_id == actor.pk:
        raise RuleViolation(_("The person who set the password cannot also verify it."))
    rotation.verified_by = actor
    rotation.save(update_fields=["verified_by"])
    _make_current(
        rotation_ids=[rotation.pk], actor=actor, expected=RotationStatus.AWAITING_VERIFICATION
    )
    return Rotation.objects.get(pk=rotation.pk)
