"""Time-boxed arrangements (暫定運用): an agreed provisional use with a hard end, proposed by one
security officer and approved by another (separation of duties). Approval declares the
arrangement's declaration (kind `arrangement`), and lending under it goes through the ordinary
lending services with that declaration. When the end passes, `arrangements_sweep` ends it by
itself: the declaration is lifted, open loans fall due, the accounts used only for it are locked
on their targets at once and deleted there after the grace period; compliance raises a finding
each day for every terminal still out (`terminals_out_after_end`).

Selectors (reads) first, then the services (writes). The sweep is idempotent and crash-safe:
each arrangement ends in its own transaction, and what reaches the targets afterwards (lock,
delete) is derived from the recorded end on every run, so a crash in between is finished by the
next run."""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.audit import (
    format_iso_datetime,
    record_event,
    register_action_labels,
    register_detail_labels,
    register_detail_values,
)
from core.errors import InvalidInput, RuleViolation
from core.models import Organization, User
from core.transitions import check_transition
from credentials.accounts import account_delete, account_lock
from credentials.connectors import ConnectorError
from credentials.models import Account, AccountState, RotationReason
from credentials.rotation import rotations_request
from lending import services
from lending.models import (
    Arrangement,
    ArrangementExtension,
    ArrangementStatus,
    Declaration,
    DeclarationKind,
    DeclarationStatus,
    ExtensionStatus,
    Loan,
    LoanStatus,
)
from terminals.models import Location, Terminal

logger = logging.getLogger(__name__)

# Selectors ------------------------------------------------------------------------------------


def arrangement_queryset(*, user: User) -> QuerySet[Arrangement]:
    qs = Arrangement.objects.select_related(
        "proposed_by", "decided_by", "declaration"
    ).prefetch_related("parties")
    if not user.has_perm("lending.view_arrangement"):
        return qs.none()
    return qs


def arrangements_ending_soon(
    *, user: User, now: datetime | None = None, days: int = 30
) -> QuerySet[Arrangement]:
    """Active arrangements whose hard end comes within `days` (the dashboard's list)."""
    now = now or timezone.now()
    return (
        arrangement_queryset(user=user)
        .filter(status=ArrangementStatus.ACTIVE, ends_at__lt=now + timedelta(days=days))
        .order_by("ends_at")
    )


def arrangements_awaiting_approval(*, user: User) -> dict[str, int]:
    """What a security officer may approve: proposals and extensions somebody else made."""
    if not user.has_perm("lending.change_arrangement"):
        return {"arrangements": 0, "extensions": 0}
    return {
        "arrangements": arrangement_queryset(user=user)
        .filter(status=ArrangementStatus.PROPOSED)
        .exclude(proposed_by=user)
        .count(),
        "extensions": ArrangementExtension.objects.filter(
            status=ExtensionStatus.PROPOSED, arrangement__status=ArrangementStatus.ACTIVE
        )
        .exclude(requested_by=user)
        .count(),
    }


def days_left(arrangement: Arrangement, now: datetime | None = None) -> int | None:
    """Whole days until the hard end (0 on its last day), None once it is no longer active."""
    if arrangement.status not in (ArrangementStatus.ACTIVE, ArrangementStatus.PROPOSED):
        return None
    left = arrangement.ends_at - (now or timezone.now())
    return max(left.days, 0)


def arrangement_loans(arrangement: Arrangement) -> QuerySet[Loan]:
    if arrangement.declaration_id is None:
        return Loan.objects.none()
    return (
        Loan.objects.filter(request__declaration_id=arrangement.declaration_id)
        .exclude(status=LoanStatus.ABANDONED)
        .select_related("terminal", "request__contractor", "request__declaration", "handed_out_by")
    )


def exclusive_accounts(arrangement: Arrangement) -> QuerySet[Account]:
    """The live accounts the arrangement covers that are used only for it: no other active
    arrangement covers them, and their terminal is not out under a disaster declaration."""
    out_for_disaster = Loan.objects.filter(
        status__in=Loan.OUT, request__declaration__kind=DeclarationKind.DISASTER
    ).values("terminal_id")
    shared = Arrangement.objects.filter(status=ArrangementStatus.ACTIVE).exclude(pk=arrangement.pk)
    return (
        arrangement.accounts.exclude(state=AccountState.DELETED)
        .exclude(pk__in=Account.objects.filter(arrangements__in=shared).values("pk"))
        .exclude(terminal_id__in=out_for_disaster)
        .select_related("target_system", "terminal")
    )


def terminals_out_after_end() -> QuerySet[Loan]:
    """Loans still out under an arrangement that has ended: each is a finding every day."""
    return Loan.objects.filter(
        status__in=Loan.OUT,
        request__declaration__arrangement__status=ArrangementStatus.ENDED,
    ).select_related("terminal", "request__contractor", "request__declaration__arrangement")


def deletion_due_at(arrangement: Arrangement) -> datetime | None:
    """When the accounts used only for an ended arrangement are deleted on their targets."""
    if arrangement.ended_at is None:
        return None
    return arrangement.ended_at + timedelta(days=settings.ARRANGEMENT_ACCOUNT_GRACE_DAYS)


def candidate_terminals() -> QuerySet[Terminal]:
    """What a proposal may cover: terminals in storage."""
    return Terminal.objects.filter(status=Terminal.Status.IN_STORAGE).order_by("asset_tag")


def candidate_accounts() -> QuerySet[Account]:
    return (
        Account.objects.filter(terminal__status=Terminal.Status.IN_STORAGE)
        .exclude(state=AccountState.DELETED)
        .select_related("target_system", "terminal")
        .order_by("terminal__asset_tag", "target_system__code")
    )


def extension_history(arrangement: Arrangement) -> QuerySet[ArrangementExtension]:
    return arrangement.extensions.select_related("requested_by", "decided_by").order_by(
        "requested_at", "id"
    )


def loans_by_status(arrangement: Arrangement) -> dict[str, int]:
    rows = arrangement_loans(arrangement).order_by().values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


# Services -------------------------------------------------------------------------------------


def _period_errors(
    starts_at: datetime | None, ends_at: datetime | None, now: datetime
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if starts_at is None:
        errors["starts_at"] = [_("Give the date and time the arrangement starts.")]
    if ends_at is None:
        errors["ends_at"] = [_("Give the hard end date and time.")]
        return errors
    if ends_at <= now:
        errors["ends_at"] = [_("The end must be in the future.")]
    elif starts_at is not None and ends_at <= starts_at:
        errors["ends_at"] = [_("The end must be after the start.")]
    elif starts_at is not None and ends_at - starts_at > timedelta(
        days=settings.ARRANGEMENT_MAX_DAYS
    ):
        errors["ends_at"] = [
            _("An arrangement lasts at most %(days)s days.")
            % {"days": settings.ARRANGEMENT_MAX_DAYS}
        ]
    return errors


@transaction.atomic
def arrangement_propose(
    *,
    actor: User,
    title: str,
    reason: str,
    parties: Iterable[Organization],
    terminals: Iterable[Terminal],
    accounts: Iterable[Account] | None = None,
    starts_at: datetime | None,
    ends_at: datetime | None,
    now: datetime | None = None,
) -> Arrangement:
    """Record a proposal; it covers nothing until a second security officer approves it.
    `accounts` empty or None: every live account of the terminals."""
    now = now or timezone.now()
    parties, terminals = list(parties), list(terminals)
    accounts = None if accounts is None else list(accounts)
    errors = _period_errors(starts_at, ends_at, now)
    if not title.strip():
        errors["title"] = [_("A title is required.")]
    if not reason.strip():
        errors["reason"] = [_("Say why the arrangement is needed.")]
    if not parties:
        errors["parties"] = [_("Name at least one party.")]
    if not terminals:
        errors["terminals"] = [_("Choose at least one terminal.")]
    else:
        # Read again under their locks: their status now, not the form's.
        locked = list(
            Terminal.objects.select_for_update(of=("self",))
            .select_related("location")
            .filter(pk__in=[t.pk for t in terminals])
            .order_by("asset_tag")
        )
        terminals = locked
        not_stored = [t.asset_tag for t in locked if t.status != Terminal.Status.IN_STORAGE]
        if not_stored:
            errors["terminals"] = [
                _("These terminals are not in storage: %(tags)s.") % {"tags": ", ".join(not_stored)}
            ]
        elif any(t.location.site_id is None for t in locked):
            errors["terminals"] = [_("Every terminal must be kept at a site.")]
    terminal_pks = {t.pk for t in terminals}
    if accounts:
        foreign = [str(a) for a in accounts if a.terminal_id not in terminal_pks]
        deleted = [str(a) for a in accounts if a.state == AccountState.DELETED]
        if foreign:
            errors["accounts"] = [
                _("These accounts belong to terminals the arrangement does not cover: %(a)s.")
                % {"a": ", ".join(foreign)}
            ]
        elif deleted:
            errors["accounts"] = [
                _("These accounts are deleted: %(a)s.") % {"a": ", ".join(deleted)}
            ]
    if errors:
        raise InvalidInput(_("The arrangement was not proposed."), field_errors=errors)
    assert starts_at is not None and ends_at is not None, "refused above"
    if not accounts:
        accounts = list(
            Account.objects.filter(terminal_id__in=terminal_pks).exclude(state=AccountState.DELETED)
        )
    arrangement = Arrangement.objects.create(
        title=title.strip(),
        reason=reason.strip(),
        starts_at=starts_at,
        ends_at=ends_at,
        proposed_by=actor,
    )
    arrangement.parties.set(parties)
    arrangement.terminals.set(terminals)
    arrangement.accounts.set(accounts)
    record_event(
        actor=actor,
        action="arrangement.proposed",
        obj=arrangement,
        details={
            "title": arrangement.title,
            "reason": arrangement.reason,
            "parties": [p.code for p in parties],
            "terminals": [t.asset_tag for t in terminals],
            "accounts": [a.pk for a in accounts],
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
        },
    )
    return arrangement


def approval_refusals(arrangement: Arrangement, actor: User, now: datetime) -> list[str]:
    """Why this officer may not approve (or reject) this proposal now; empty: they may."""
    reasons = []
    if arrangement.status != ArrangementStatus.PROPOSED:
        reasons.append(
            _("This arrangement is %(status)s: only a proposal can be decided.")
            % {"status": ArrangementStatus(arrangement.status).label}
        )
    if arrangement.proposed_by_id == actor.pk:
        reasons.append(
            _(
                "You proposed this arrangement: a second security officer must decide it "
                "(separation of duties)."
            )
        )
    return reasons


@transaction.atomic
def arrangement_approve(
    *, arrangement: Arrangement, actor: User, now: datetime | None = None
) -> Arrangement:
    """A second security officer approves: the arrangement's declaration is declared, and
    lending under it may start."""
    now = now or timezone.now()
    arrangement = Arrangement.objects.select_for_update(of=("self",)).get(pk=arrangement.pk)
    reasons = approval_refusals(arrangement, actor, now)
    if not reasons and arrangement.ends_at <= now:
        reasons.append(_("Its end has passed: propose it again with a new end."))
    if reasons:
        raise RuleViolation(_("The arrangement was not approved."), reasons=reasons)
    check_transition(arrangement, ArrangementStatus.ACTIVE)
    sites = Location.objects.filter(
        pk__in=arrangement.terminals.values("location__site_id")
    ).order_by("code")
    declaration = services.declaration_declare(
        actor=actor,
        title=arrangement.title,
        sites=sites,
        declared_at=now,
        lending_limit=arrangement.ends_at,
        kind=DeclarationKind.ARRANGEMENT,
    )
    arrangement.status = ArrangementStatus.ACTIVE
    arrangement.decided_by, arrangement.decided_at = actor, now
    arrangement.declaration = declaration
    arrangement.save(update_fields=["status", "decided_by", "decided_at", "declaration"])
    record_event(
        actor=actor,
        action="arrangement.approved",
        obj=arrangement,
        details={"declaration": declaration.pk, "ends_at": arrangement.ends_at.isoformat()},
    )
    return arrangement


@transaction.atomic
def arrangement_reject(
    *, arrangement: Arrangement, actor: User, reason: str, now: datetime | None = None
) -> Arrangement:
    now = now or timezone.now()
    if not reason.strip():
        raise InvalidInput(
            _("The arrangement was not rejected."),
            field_errors={"reason": [_("A reason is required.")]},
        )
    arrangement = Arrangement.objects.select_for_update(of=("self",)).get(pk=arrangement.pk)
    reasons = approval_refusals(arrangement, actor, now)
    if reasons:
        raise RuleViolation(_("The arrangement was not rejected."), reasons=reasons)
    check_transition(arrangement, ArrangementStatus.REJECTED)
    arrangement.status = ArrangementStatus.REJECTED
    arrangement.decided_by, arrangement.decided_at = actor, now
    arrangement.save(update_fields=["status", "decided_by", "decided_at"])
    record_event(
        actor=actor,
        action="arrangement.rejected",
        obj=arrangement,
        details={"reason": reason.strip()},
    )
    return arrangement


# Extensions -----------------------------------------------------------------------------------


@transaction.atomic
def arrangement_extension_propose(
    *,
    arrangement: Arrangement,
    actor: User,
    new_ends_at: datetime | None,
    reason: str,
    now: datetime | None = None,
) -> ArrangementExtension:
    """Ask to move the hard end later; nothing moves until a second officer approves."""
    now = now or timezone.now()
    arrangement = Arrangement.objects.select_for_update(of=("self",)).get(pk=arrangement.pk)
    if arrangement.status != ArrangementStatus.ACTIVE:
        raise RuleViolation(
            _("Only an active arrangement can be extended (this one is %(status)s).")
            % {"status": ArrangementStatus(arrangement.status).label}
        )
    if arrangement.extensions.filter(status=ExtensionStatus.PROPOSED).exists():
        raise RuleViolation(_("An extension of this arrangement already awaits approval."))
    errors: dict[str, list[str]] = {}
    if not reason.strip():
        errors["reason"] = [_("Say why the arrangement must last longer.")]
    if new_ends_at is None:
        errors["new_ends_at"] = [_("Give the new end date and time.")]
    elif new_ends_at <= arrangement.ends_at:
        errors["new_ends_at"] = [
            _("The new end must be later than the current end (%(end)s).")
            % {"end": timezone.localtime(arrangement.ends_at).strftime("%Y-%m-%d %H:%M")}
        ]
    elif new_ends_at - now > timedelta(days=settings.ARRANGEMENT_MAX_DAYS):
        errors["new_ends_at"] = [
            _("The new end may be at most %(days)s days from now.")
            % {"days": settings.ARRANGEMENT_MAX_DAYS}
        ]
    if errors:
        raise InvalidInput(_("The extension was not proposed."), field_errors=errors)
    assert new_ends_at is not None, "refused above"
    extension = ArrangementExtension.objects.create(
        arrangement=arrangement,
        previous_ends_at=arrangement.ends_at,
        new_ends_at=new_ends_at,
        reason=reason.strip(),
        requested_by=actor,
    )
    record_event(
        actor=actor,
        action="arrangement.extension_proposed",
        obj=arrangement,
        details={
            "extension": extension.pk,
            "previous_ends_at": arrangement.ends_at.isoformat(),
            "new_ends_at": new_ends_at.isoformat(),
            "reason": extension.reason,
        },
    )
    return extension


def extension_refusals(extension: ArrangementExtension, actor: User) -> list[str]:
    reasons = []
    if extension.status != ExtensionStatus.PROPOSED:
        reasons.append(_("This extension was already decided."))
    if extension.arrangement.status != ArrangementStatus.ACTIVE:
        reasons.append(_("The arrangement has ended: it cannot be extended."))
    if extension.requested_by_id == actor.pk:
        reasons.append(
            _(
                "You asked for this extension: a second security officer must decide it "
                "(separation of duties)."
            )
        )
    return reasons


@transaction.atomic
def arrangement_extension_approve(
    *, extension: ArrangementExtension, actor: User, now: datetime | None = None
) -> ArrangementExtension:
    """Move the hard end (and its declaration's lending limit) to the extension's new end."""
    now = now or timezone.now()
    arrangement = Arrangement.objects.select_for_update(of=("self",)).get(
        pk=extension.arrangement_id
    )
    extension = ArrangementExtension.objects.select_for_update(of=("self",)).get(pk=extension.pk)
    extension.arrangement = arrangement
    reasons = extension_refusals(extension, actor)
    if not reasons and extension.new_ends_at <= now:
        reasons.append(_("The new end has passed already: ask for a later one."))
    if not reasons and extension.new_ends_at <= arrangement.ends_at:
        reasons.append(_("The arrangement already ends at or after this new end."))
    if reasons:
        raise RuleViolation(_("The extension was not approved."), reasons=reasons)
    check_transition(extension, ExtensionStatus.APPROVED)
    previous = arrangement.ends_at
    extension.status, extension.decided_by, extension.decided_at = (
        ExtensionStatus.APPROVED,
        actor,
        now,
    )
    extension.save(update_fields=["status", "decided_by", "decided_at"])
    arrangement.ends_at = extension.new_ends_at
    arrangement.save(update_fields=["ends_at"])
    if arrangement.declaration_id is not None:
        Declaration.objects.filter(pk=arrangement.declaration_id).update(
            lending_limit=extension.new_ends_at
        )
    record_event(
        actor=actor,
        action="arrangement.extended",
        obj=arrangement,
        details={
            "extension": extension.pk,
            "previous_ends_at": previous.isoformat(),
            "ends_at": extension.new_ends_at.isoformat(),
            "requested_by": extension.requested_by.get_username(),
        },
    )
    return extension


@transaction.atomic
def arrangement_extension_reject(
    *, extension: ArrangementExtension, actor: User, reason: str, now: datetime | None = None
) -> ArrangementExtension:
    now = now or timezone.now()
    if not reason.strip():
        raise InvalidInput(
            _("The extension was not rejected."),
            field_errors={"reason": [_("A reason is required.")]},
        )
    extension = ArrangementExtension.objects.select_for_update(of=("self",)).get(pk=extension.pk)
    reasons = extension_refusals(extension, actor)
    if reasons:
        raise RuleViolation(_("The extension was not rejected."), reasons=reasons)
    check_transition(extension, ExtensionStatus.REJECTED)
    extension.status, extension.decided_by, extension.decided_at = (
        ExtensionStatus.REJECTED,
        actor,
        now,
    )
    extension.save(update_fields=["status", "decided_by", "decided_at"])
    record_event(
        actor=actor,
        action="arrangement.extension_rejected",
        obj=extension.arrangement,
        details={"extension": extension.pk, "reason": reason.strip()},
    )
    return extension


# The end --------------------------------------------------------------------------------------


def arrangement_end(*, arrangement: Arrangement, now: datetime | None = None) -> bool:
    """End one arrangement whose hard end has passed, in its own transaction: the arrangement
    ENDED (by the system), open loans due at its end, its declaration lifted (which cancels
    requests not yet decided). False when there is nothing to do (already ended, or not due):
    running it twice changes nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = (
            Arrangement.objects.select_for_update(of=("self",))
            .filter(pk=arrangement.pk, status=ArrangementStatus.ACTIVE, ends_at__lte=now)
            .first()
        )
        if locked is None:
            return False
        arrangement = locked
        check_transition(arrangement, ArrangementStatus.ENDED)
        grace = timedelta(days=settings.ARRANGEMENT_ACCOUNT_GRACE_DAYS)
        arrangement.status, arrangement.ended_at = ArrangementStatus.ENDED, now
        arrangement.save(update_fields=["status", "ended_at"])
        made_due: list[int] = []
        declaration = arrangement.declaration
        if declaration is not None:
            # Due at the hard end: before the lift, so that lifting (grace 0) finds none later.
            late = Loan.objects.filter(
                request__declaration=declaration,
                status__in=Loan.OUT,
                due_at__gt=arrangement.ends_at,
            )
            made_due = list(late.values_list("pk", flat=True))
            late.update(due_at=arrangement.ends_at)
            if declaration.status == DeclarationStatus.ACTIVE:
                services.declaration_lift(declaration=declaration, actor=None, grace_hours=0)
        record_event(
            actor=None,
            action="arrangement.ended",
            obj=arrangement,
            details={
                "ends_at": arrangement.ends_at.isoformat(),
                "loans_made_due": made_due,
                "accounts_to_lock": list(
                    exclusive_accounts(arrangement)
                    .filter(state=AccountState.UNLOCKED)
                    .values_list("pk", flat=True)
                ),
                "accounts_delete_after": (now + grace).isoformat(),
            },
        )
    return True


@dataclass
class SweepResult:
    ended: list[int] = field(default_factory=list)
    locked: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _lock_on_targets(arrangements: QuerySet[Arrangement], result: SweepResult) -> None:
    """Lock on its target each account used only for an ended arrangement and still unlocked.
    A target that does not answer gets a rotation instead, which retries until it locks the
    account (as a revoked loan's accounts); the next sweep tries again meanwhile."""
    for arrangement in arrangements:
        for account in exclusive_accounts(arrangement).filter(state=AccountState.UNLOCKED):
            try:
                account_lock(account=account, actor=None)
            except ConnectorError as exc:
                logger.warning("arrangement %s: cannot lock %s: %s", arrangement.pk, account, exc)
                result.failed.append(f"lock {account}: {exc}")
                with transaction.atomic():
                    rotations_request(
                        accounts=Account.objects.filter(pk=account.pk, state=AccountState.UNLOCKED),
                        reason=RotationReason.REVOKED,
                        actor=None,
                    )
            except RuleViolation as exc:  # its state changed meanwhile: the next run sees it
                result.failed.append(f"lock {account}: {exc.message}")
            else:
                result.locked.append(account.pk)


def _delete_on_targets(
    arrangements: QuerySet[Arrangement], now: datetime, result: SweepResult
) -> None:
    """After the grace period, delete on its target each account used only for it. An account
    whose rotation is under way waits for the next run."""
    grace = timedelta(days=settings.ARRANGEMENT_ACCOUNT_GRACE_DAYS)
    for arrangement in arrangements.filter(ended_at__lte=now - grace):
        deletable = exclusive_accounts(arrangement).filter(
            state__in=[AccountState.LOCKED, AccountState.ROTATION_FAILED]
        )
        for account in deletable:
            try:
                account_delete(account=account, actor=None)
            except (ConnectorError, RuleViolation) as exc:
                logger.warning("arrangement %s: cannot delete %s: %s", arrangement.pk, account, exc)
                result.failed.append(f"delete {account}: {exc}")
            else:
                result.deleted.append(account.pk)


def arrangements_sweep(*, now: datetime | None = None) -> SweepResult:
    """Run by the scheduler every few minutes: end every active arrangement whose hard end has
    passed, then finish what ended ones still owe their targets (lock now, delete after the
    grace period). Idempotent: a second run finds nothing left to do."""
    now = now or timezone.now()
    result = SweepResult()
    due = Arrangement.objects.filter(status=ArrangementStatus.ACTIVE, ends_at__lte=now)
    for pk in list(due.values_list("pk", flat=True)):
        try:
            if arrangement_end(arrangement=Arrangement(pk=pk), now=now):
                result.ended.append(pk)
        except Exception:  # one arrangement's failure must not stop the others ending
            logger.exception("arrangement %s could not be ended", pk)
            result.failed.append(f"end {pk}")
    # Only ended arrangements that still cover a live account owe their targets anything.
    owing = Arrangement.objects.filter(
        status=ArrangementStatus.ENDED,
        accounts__state__in=[
            AccountState.UNLOCKED,
            AccountState.LOCKED,
            AccountState.ROTATION_FAILED,
        ],
    ).distinct()
    _lock_on_targets(owing, result)
    _delete_on_targets(owing, now, result)
    return result


def register_audit_words() -> None:
    """The audit trail in words (core.audit): the arrangements' actions and detail keys."""
    register_action_labels(
        {
            "arrangement.proposed": gettext_lazy("Arrangement proposed"),
            "arrangement.approved": gettext_lazy("Arrangement approved"),
            "arrangement.rejected": gettext_lazy("Arrangement rejected"),
            "arrangement.extension_proposed": gettext_lazy("Arrangement extension proposed"),
            "arrangement.extended": gettext_lazy("Arrangement extended"),
            "arrangement.extension_rejected": gettext_lazy("Arrangement extension rejected"),
            "arrangement.ended": gettext_lazy("Arrangement ended"),
        }
    )
    register_detail_labels(
        {
            "parties": gettext_lazy("parties"),
            "terminals": gettext_lazy("terminals"),
            "accounts": gettext_lazy("accounts"),
            "starts_at": gettext_lazy("starts"),
            "ends_at": gettext_lazy("hard end"),
            "previous_ends_at": gettext_lazy("previous end"),
            "new_ends_at": gettext_lazy("new end"),
            "extension": gettext_lazy("extension"),
            "requested_by": gettext_lazy("requested by"),
            "accounts_to_lock": gettext_lazy("accounts to lock"),
            "accounts_delete_after": gettext_lazy("accounts deleted after"),
        }
    )
    for key in ("starts_at", "ends_at", "previous_ends_at", "new_ends_at", "accounts_delete_after"):
        register_detail_values(key, format_iso_datetime)
