"""Writes to credentials. A rotation is crash-safe in three steps:

1. (transaction) the new login ID and password are stored as a *pending* secret version;
2. (no transaction: slow I/O) the connector pushes exactly that pending value to the target;
3. (transaction) the pending version becomes current and the old one is retired.

A crash anywhere leaves the pending version in place, so a retry pushes the same values again
(connectors are idempotent) and the target and the database agree at the end.
"""

import logging
import random
import time

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import record_event
from core.errors import InvalidInput, RuleViolation, TransitionNotAllowed
from core.models import User
from core.roles import Role
from credentials.connectors import LdapSettings
from credentials.generation import PasswordPolicy, PolicyError, generate_login_id, generate_password
from credentials.keys import keyring
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
from credentials.permissions import may_reveal
from terminals.models import Terminal

logger = logging.getLogger(__name__)


class RevealRefused(RuleViolation):
    """The secret was already revealed: HTTP 410, ask a security officer."""


# Encryption -----------------------------------------------------------------------------------


def secret_plaintext(version: SecretVersion) -> str:
    return keyring().decrypt(version.key_id, bytes(version.ciphertext), context=version.aad_context)


def _bind_password_context(target: TargetSystem) -> str:
    return f"target={target.pk}|ldap-bind"


def policy_of(target: TargetSystem) -> PasswordPolicy:
    return PasswordPolicy(
        length=target.password_length,
        min_upper=target.min_upper,
        min_lower=target.min_lower,
        min_digits=target.min_digits,
        min_symbols=target.min_symbols,
        symbols=target.symbols,
        excluded=target.excluded_characters,
    )


# Target systems -------------------------------------------------------------------------------


_POLICY_FIELDS = (
    "password_length",
    "min_upper",
    "min_lower",
    "min_digits",
    "min_symbols",
    "symbols",
    "excluded_characters",
    "login_id_prefix",
    "login_id_random_length",
    "max_secret_age_days",
)


@transaction.atomic
def target_system_create(
    *,
    actor: User | None,
    code: str,
    name: str,
    connector: str,
    ldap_url: str = "",
    ldap_base_dn: str = "",
    ldap_bind_dn: str = "",
    ldap_bind_password: str = "",
    ldap_timeout_seconds: int = 5,
    **policy,
) -> TargetSystem:
    unknown = set(policy) - set(_POLICY_FIELDS)
    if unknown:
        raise TypeError(f"unknown target system fields: {sorted(unknown)}")
    errors: dict[str, list[str]] = {}
    if TargetSystem.objects.filter(code=code).exists():
        errors["code"] = [_("A target system with code %(code)s already exists.") % {"code": code}]
    if connector not in ConnectorKind.values:
        errors["connector"] = [_("Unknown connector: %(c)s.") % {"c": connector}]
    if connector == ConnectorKind.LDAP:
        for field, value in (
            ("ldap_url", ldap_url),
            ("ldap_base_dn", ldap_base_dn),
            ("ldap_bind_dn", ldap_bind_dn),
            ("ldap_bind_password", ldap_bind_password),
        ):
            if not value:
                errors[field] = [_("Required for an LDAP target.")]
    target = TargetSystem(
        code=code,
        name=name,
        connector=connector,
        ldap_url=ldap_url,
        ldap_base_dn=ldap_base_dn,
        ldap_bind_dn=ldap_bind_dn,
        ldap_timeout_seconds=ldap_timeout_seconds,
        **policy,
    )
    try:
        policy_of(target).check()
    except PolicyError as exc:
        errors["password_length"] = [
            _("The password policy cannot be met: %(why)s.") % {"why": exc}
        ]
    if errors:
        raise InvalidInput(_("The target system was not saved."), field_errors=errors)
    target.save()
    if ldap_bind_password:
        target.ldap_bind_password_key_id, target.ldap_bind_password_ciphertext = keyring().encrypt(
            ldap_bind_password, context=_bind_password_context(target)
        )
        target.save(update_fields=["ldap_bind_password_key_id", "ldap_bind_password_ciphertext"])
    record_event(
        actor=actor,
        action="target_system.created",
        obj=target,
        details={"code": code, "connector": connector, **{k: policy[k] for k in sorted(policy)}},
    )
    return target


def connector_for(target: TargetSystem):
    if target.connector == ConnectorKind.LDAP:
        from credentials.connectors.ldap import LdapConnector

        return LdapConnector(
            LdapSettings(
                url=target.ldap_url,
                base_dn=target.ldap_base_dn,
                bind_dn=target.ldap_bind_dn,
                bind_password=keyring().decrypt(
                    target.ldap_bind_password_key_id,
                    bytes(target.ldap_bind_password_ciphertext),
                    context=_bind_password_context(target),
                ),
                timeout=target.ldap_timeout_seconds,
            )
        )
    from credentials.connectors.local import LocalConnector

    return LocalConnector(target)


# Accounts -------------------------------------------------------------------------------------


def _set_account_state(account: Account, to_state: str) -> None:
    """Change a locked row's state, refusing what ALLOWED_TRANSITIONS does not declare."""
    if to_state not in Account.ALLOWED_TRANSITIONS[AccountState(account.state)]:
        raise TransitionNotAllowed(
            _("An account that is %(old)s cannot become %(new)s.")
            % {"old": AccountState(account.state).label, "new": AccountState(to_state).label}
        )
    account.state = to_state


def _unused_login_id(target: TargetSystem) -> str:
    for _attempt in range(20):
        login_id = generate_login_id(target.login_id_prefix, target.login_id_random_length)
        if not Account.objects.filter(target_system=target, login_id=login_id).exists():
            return login_id
    raise RuleViolation(_("No unused login ID could be generated; lengthen the random part."))


@transaction.atomic
def account_create(
    *, actor: User | None, target_system: TargetSystem, terminal: Terminal
) -> Account:
    """A new account for a terminal: its first login ID and password come from a rotation."""
    if terminal.status == Terminal.Status.RETIRED:
        raise RuleViolation(_("A retired terminal keeps no accounts."))
    if (
        Account.objects.filter(target_system=target_system, terminal=terminal)
        .exclude(state=AccountState.DELETED)
        .exists()
    ):
        raise InvalidInput(
            _("The account was not created."),
            field_errors={
                "target_system": [_("This terminal already has an account on this target system.")]
            },
        )
    account = Account.objects.create(
        target_system=target_system,
        terminal=terminal,
        login_id=_unused_login_id(target_system),
        state=AccountState.ROTATION_PENDING,
    )
    record_event(
        actor=actor,
        action="account.created",
        obj=account,
        details={"target_system": target_system.code, "terminal": terminal.asset_tag},
    )
    _open_rotation(account=account, reason=RotationReason.INITIAL, actor=actor)
    return account


# Rotation -------------------------------------------------------------------------------------


def _open_rotation(*, account: Account, reason: str, actor: User | None) -> Rotation:
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
    _set_account_state(account, AccountState.ROTATION_PENDING)
    account.save(update_fields=["state"])
    return _open_rotation(account=account, reason=reason, actor=actor)


def rotation_dispatch(*, rotation_id: int) -> None:
    """Send a requested rotation to a worker. A broker that is down is only logged: the
    sweeper re-sends every rotation that has waited too long."""
    from credentials.tasks import rotate_account

    try:
        rotate_account.delay(rotation_id)
    except Exception:  # any broker/connection failure; the database row is the real record
        logger.warning(
            "rotation %s could not be sent to a worker; the sweeper will resend it",
            rotation_id,
            exc_info=True,
        )
        return
    Rotation.objects.filter(pk=rotation_id).update(dispatched_at=timezone.now())


def rotation_resend_stale(*, older_than_seconds: int | None = None) -> int:
    """Re-send every requested rotation not sent, or sent long enough ago to have been lost."""
    wait = (
        older_than_seconds
        if older_than_seconds is not None
        else settings.ROTATION_RESEND_AFTER_SECONDS
    )
    cutoff = timezone.now() - timezone.timedelta(seconds=wait)
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
            login_id=_unused_login_id(target),
            status=SecretStatus.PENDING,
        )
        pending.key_id, pending.ciphertext = keyring().encrypt(
            generate_password(policy_of(target)), context=pending.aad_context
        )
        pending.save()
        rotation.pending_version = pending
    rotation.save(update_fields=["attempts", "pending_version"])
    return rotation, rotation.pending_version


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
    if settings.ROTATION_CONNECTOR_DELAY_SECONDS:
        # Widens the crash window on purpose in the crash-safety test and the benchmark.
        time.sleep(settings.ROTATION_CONNECTOR_DELAY_SECONDS)
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
        record_event(
            actor=None,
            action="rotation.awaiting_admin",
            obj=rotation,
            details={"account": rotation.account_id, "version": rotation.pending_version.version},
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
    _set_account_state(account, AccountState.LOCKED)
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
    _set_account_state(account, AccountState.ROTATION_FAILED)
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
    recipients = list(
        Group.objects.get(name=Role.SECURITY)
        .user_set.filter(is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
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
        max_age = timezone.timedelta(days=account.target_system.max_secret_age_days)
        if became_current is None or now - became_current >= max_age:
            rotation_request(account=account, reason=RotationReason.SCHEDULED, actor=None)
            count += 1
    return count


def _require_security(actor: User) -> None:
    if actor.role != Role.SECURITY:
        raise RuleViolation(_("Only a security officer may do this."))


@transaction.atomic
def rotation_force(*, actor: User, accounts) -> list[Rotation]:
    """A security officer's forced rotation of one account, a terminal's or a target's."""
    _require_security(actor)
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
        record_event(
            actor=actor,
            action="rotation.manual_values_shown",
            obj=rotation,
            details={"account": rotation.account_id, "version": rotation.pending_version.version},
        )
        pending = rotation.pending_version
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


# Reveal ---------------------------------------------------------------------------------------


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
    _require_security(actor)
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


# Locks on the target --------------------------------------------------------------------------


def _change_lock(*, account: Account, actor: User | None, to_state: str) -> Account:
    with transaction.atomic():
        locked = (
            Account.objects.select_for_update(of=("self",))
            .select_related("target_system")
            .get(pk=account.pk)
        )
        _set_account_state(locked, to_state)  # refuse before touching the target
    connector = connector_for(locked.target_system)
    (connector.unlock if to_state == AccountState.UNLOCKED else connector.lock)(locked.login_id)
    with transaction.atomic():
        locked = Account.objects.select_for_update(of=("self",)).get(pk=account.pk)
        _set_account_state(locked, to_state)
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


def account_delete(*, account: Account, actor: User | None) -> Account:
    """Delete the account on its target, then here (no longer needed, or its terminal retired)."""
    with transaction.atomic():
        locked = (
            Account.objects.select_for_update(of=("self",))
            .select_related("target_system")
            .get(pk=account.pk)
        )
        _set_account_state(locked, AccountState.DELETED)
    connector_for(locked.target_system).delete(locked.login_id)
    with transaction.atomic():
        locked = Account.objects.select_for_update(of=("self",)).get(pk=account.pk)
        _set_account_state(locked, AccountState.DELETED)
        locked.save(update_fields=["state"])
        LoginIdRecord.objects.filter(account=locked, valid_until__isnull=True).update(
            valid_until=timezone.now()
        )
        record_event(
            actor=actor, action="account.deleted", obj=locked, details={"login_id": locked.login_id}
        )
    return locked


def accounts_delete_after_retirement(terminal: Terminal) -> None:
    """Retired terminals keep no accounts: after the retirement commits, a worker deletes them on
    their targets (the policy check reports any that linger)."""
    from credentials.tasks import delete_accounts_of_terminal

    terminal_id = terminal.pk
    transaction.on_commit(lambda: delete_accounts_of_terminal.delay(terminal_id))


def accounts_delete_for_terminal(*, terminal_id: int) -> int:
    """Delete every live account of a (retired) terminal on its target, then here."""
    accounts = Account.objects.filter(terminal_id=terminal_id).exclude(state=AccountState.DELETED)
    count = 0
    for account in accounts:
        if account.state == AccountState.ROTATION_PENDING:
            # A rotation is pushing to the target now; deleting under it would race. The
            # policy check reports accounts of retired terminals, so this one is not forgotten.
            continue
        account_delete(account=account, actor=None)
        count += 1
    return count


# Keys -----------------------------------------------------------------------------------------


def reencrypt_under_newest_key(*, batch_size: int = 200) -> dict[str, int]:
    """Re-encrypt every secret (and LDAP bind password) not under the newest key, in small
    transactions, so that an interrupted run simply continues when run again."""
    ring = keyring()
    newest = ring.current_key_id
    counts = {"secret_versions": 0, "target_systems": 0}
    while True:
        with transaction.atomic():
            batch = list(
                SecretVersion.objects.select_for_update(of=("self",))
                .exclude(key_id=newest)
                .order_by("pk")[:batch_size]
            )
            for version in batch:
                plain = secret_plaintext(version)
                version.key_id, version.ciphertext = ring.encrypt(
                    plain, context=version.aad_context
                )
                version.save(update_fields=["key_id", "ciphertext"])
        counts["secret_versions"] += len(batch)
        if len(batch) < batch_size:
            break
    with transaction.atomic():
        targets = (
            TargetSystem.objects.select_for_update(of=("self",))
            .exclude(ldap_bind_password_ciphertext=None)
            .exclude(ldap_bind_password_key_id=newest)
        )
        for target in targets:
            context = _bind_password_context(target)
            plain = ring.decrypt(
                target.ldap_bind_password_key_id,
                bytes(target.ldap_bind_password_ciphertext),
                context=context,
            )
            target.ldap_bind_password_key_id, target.ldap_bind_password_ciphertext = ring.encrypt(
                plain, context=context
            )
            target.save(
                update_fields=["ldap_bind_password_key_id", "ldap_bind_password_ciphertext"]
            )
            counts["target_systems"] += 1
    return counts
