"""Rotation: an account's login ID and password changed to new random values on its target.
A rotation is crash-safe in three steps:

1. (transaction) the new login ID and password are stored as a *pending* secret version;
2. (no transaction: slow I/O) the connector pushes exactly that pending value to the target;
3. (transaction) the pending version becomes current and the old one is retired.

A crash anywhere leaves the pending version in place, so a retry pushes the same values again
(connectors are idempotent) and the target and the database agree at the end.
"""

import logging
import random
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import record_event
from core.errors import RuleViolation
from core.models import User
from core.queue import enqueue
from core.selectors import emails_of_users_holding
from core.transitions import check_transition
from credentials.generation import generate_password
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
)
from credentials.permissions import DECIDES_ROTATIONS, require_rotation_authority
from credentials.secrets import secret_encrypt, secret_plaintext
from credentials.targets import connector_for, policy_of, unused_login_id

logger = logging.getLogger(__name__)


def rotation_open(*, account: Account, reason: str, actor: User | None) -> Rotation:
    """A rotation of an account already `rotation_pending` (a new one, or one the caller has just
    changed under its lock); the worker is asked after the commit."""
    rotation = Rotation.objects.create(account=account, reason=reason, requested_by=actor)
    record_event(
        actor=actor,
        action="rotation.requested",
        obj=rotation,
        details={"account": account.pk, "login_id": account.login_id, "reason": reason},
    )
    transaction.on_commit(lambda: rotation_dispatch(rotation_id=rotation.pk))
    return rotation


@transaction.atomic
def rotation_request(*, account: Account, reason: str, actor: User | None) -> Rotation:
    """Ask for a rotation in the caller's transaction; the worker is asked after the commit.
    An account with a rotation already open keeps that one (a second would change nothing)."""
    account = Account.objects.select_for_update(of=("self",)).get(pk=account.pk)
    existing = Rotation.objects.filter(account=account, status__in=OPEN_ROTATION_STATUSES).first()
    if existing is not None:
        return existing
    check_transition(account, AccountState.ROTATION_PENDING, field="state")
    account.state = AccountState.ROTATION_PENDING
    account.save(update_fields=["state"])
    return rotation_open(account=account, reason=reason, actor=actor)


def rotation_dispatch(*, rotation_id: int) -> None:
    """Send a requested rotation to a worker. A broker that is down is only logged: the
    sweeper re-sends every rotation that has waited too long."""
    if not enqueue("credentials.tasks.rotate_account", rotation_id):
        logger.warning("rotation %s was not sent; the sweeper will resend it", rotation_id)
        return
    Rotation.objects.filter(pk=rotation_id).update(dispatched_at=timezone.now())


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
    ids = list(stale.values_list("pk", flat=True))
    for rotation_id in ids:
        rotation_dispatch(rotation_id=rotation_id)
    return len(ids)


@transaction.atomic
def _prepare_pending(rotation_id: int) -> tuple[Rotation, SecretVersion] | None:
    """Step 1: store the new values as pending (or find the ones a crashed try stored)."""
    rotation = (
        Rotation.objects.select_for_update(of=("self",))
        .select_related("account__target_system")
        .get(pk=rotation_id)
    )
    if rotation.status != RotationStatus.REQUESTED:
        return None
    account = rotation.account
    rotation.attempts += 1
    if rotation.pending_version_id is None:
        target = account.target_system
        version_number = (account.secret_versions.aggregate(n=Max("version"))["n"] or 0) + 1
        pending = SecretVersion(
            account=account,
            version=version_number,
            login_id=unused_login_id(target),
            status=SecretStatus.PENDING,
        )
        secret_encrypt(pending, generate_password(policy_of(target)))
        pending.save()
        rotation.pending_version = pending
    rotation.save(update_fields=["attempts", "pending_version"])
    stored = rotation.pending_version
    assert stored is not None, "stored just above, or by an earlier try"
    return rotation, stored


def rotation_perform(*, rotation_id: int) -> str:
    """Run one rotation (the worker's job). Returns the rotation's status afterwards.
    Raises ConnectorError when the target failed; the task decides whether to retry."""
    prepared = _prepare_pending(rotation_id)
    if prepared is None:
        return Rotation.objects.values_list("status", flat=True).get(pk=rotation_id)
    rotation, pending = prepared
    account = rotation.account
    if account.target_system.connector == ConnectorKind.MANUAL:
        _await_admin(rotation)
        return RotationStatus.AWAITING_ADMIN
    connector_for(account.target_system).apply_rotation(
        old_login_id=account.login_id,
        new_login_id=pending.login_id,
        password=secret_plaintext(pending),
    )
    _make_current(rotation_id=rotation_id, actor=None)
    return RotationStatus.SUCCEEDED


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


@transaction.atomic
def _make_current(
    *, rotation_id: int, actor: User | None, expected: str = RotationStatus.REQUESTED
) -> None:
    """Step 3: the target accepted the pending values; make them current."""
    rotation = Rotation.objects.select_for_update(of=("self",)).get(pk=rotation_id)
    if rotation.status != expected:
        return  # a duplicate delivery finished it already
    account = Account.objects.select_for_update(of=("self",)).get(pk=rotation.account_id)
    assert rotation.pending_version_id is not None, "stored by _prepare_pending before the target"
    pending = SecretVersion.objects.select_for_update(of=("self",)).get(
        pk=rotation.pending_version_id
    )
    now = timezone.now()
    old_version = account.current_version
    if old_version is not None:
        SecretVersion.objects.filter(pk=old_version.pk).update(status=SecretStatus.RETIRED)
    LoginIdRecord.objects.filter(account=account, valid_until__isnull=True).update(valid_until=now)
    LoginIdRecord.objects.create(account=account, login_id=pending.login_id, valid_from=now)
    pending.status, pending.became_current_at = SecretStatus.CURRENT, now
    pending.save(update_fields=["status", "became_current_at"])
    old_login_id = account.login_id
    check_transition(account, AccountState.LOCKED, field="state")
    account.state = AccountState.LOCKED
    account.login_id, account.current_version, account.rotated_at = pending.login_id, pending, now
    account.save(update_fields=["state", "login_id", "current_version", "rotated_at"])
    rotation.status, rotation.finished_at, rotation.last_error = RotationStatus.SUCCEEDED, now, ""
    rotation.save(update_fields=["status", "finished_at", "last_error"])
    record_event(
        actor=actor,
        action="rotation.succeeded",
        obj=rotation,
        details={
            "account": account.pk,
            "reason": rotation.reason,
            "old_login_id": old_login_id,
            "new_login_id": pending.login_id,
            "old_version": old_version.version if old_version else None,
            "new_version": pending.version,
            "attempts": rotation.attempts,
        },
    )


def rotation_note_error(*, rotation_id: int, error: str) -> None:
    Rotation.objects.filter(pk=rotation_id).update(last_error=error[:2000])


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
    terminal_tag = rotation.account.terminal.asset_tag
    transaction.on_commit(
        lambda: _alert_security(account_label=str(account), terminal_tag=terminal_tag, error=error)
    )


def _alert_security(*, account_label: str, terminal_tag: str, error: str) -> None:
    recipients = emails_of_users_holding(DECIDES_ROTATIONS)
    if not recipients:
        return
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
        fail_silently=True,
    )


def retry_delay(retries: int) -> float:
    """Exponential backoff with full jitter, capped."""
    cap = settings.ROTATION_RETRY_MAX_DELAY_SECONDS
    return random.uniform(0, min(cap, settings.ROTATION_RETRY_BASE_DELAY_SECONDS * 2**retries))  # noqa: S311


@transaction.atomic
def rotation_request_aged(*, now=None) -> int:
    """Request a rotation of every locked account whose secret is older than its target's
    maximum age. Unlocked accounts are on loan: their return rotates them anyway."""
    now = now or timezone.now()
    count = 0
    accounts = Account.objects.filter(state=AccountState.LOCKED).select_related(
        "target_system", "current_version"
    )
    for account in accounts:
        became_current = (
            account.current_version.became_current_at if account.current_version else None
        )
        max_age = timedelta(days=account.target_system.max_secret_age_days)
        if became_current is None or now - became_current >= max_age:
            rotation_request(account=account, reason=RotationReason.SCHEDULED, actor=None)
            count += 1
    return count


@transaction.atomic
def rotation_force(*, actor: User, accounts) -> list[Rotation]:
    """A security officer's forced rotation of one account, a terminal's or a target's."""
    require_rotation_authority(actor)
    rotations = []
    for account in accounts:
        if account.state == AccountState.DELETED:
            continue
        reason = (
            RotationReason.RETRY
            if account.state == AccountState.ROTATION_FAILED
            else RotationReason.FORCED
        )
        rotations.append(rotation_request(account=account, reason=reason, actor=actor))
    return rotations


# Manual targets: an administrator sets the values by hand, a second person verifies ----------


def _require_manual_admin(rotation: Rotation, actor: User) -> None:
    if not rotation.account.target_system.administrators.filter(pk=actor.pk).exists():
        raise RuleViolation(_("Only an administrator of this target system may do this."))


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
        rotation_id=rotation.pk, actor=actor, expected=RotationStatus.AWAITING_VERIFICATION
    )
    return Rotation.objects.get(pk=rotation.pk)
