"""Writes for disaster lending. Each transition locks its row, re-checks under the lock,
changes, writes its audit event, and enqueues work (email, rotation) after the commit. Calls to
target systems (unlocking accounts at check-out) happen between transactions, never inside one."""

import logging
import unicodedata
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import record_event, record_events
from core.errors import InvalidInput, RuleViolation
from core.models import Organization, User
from core.transitions import check_transition
from credentials.accounts import (
    accounts_lock_on_targets,
    accounts_record_state,
    accounts_unlock_on_targets,
)
from credentials.connectors import ConnectorError
from credentials.models import Account, AccountState, RotationReason
from credentials.reveal import secret_approve_extra_reveal, secret_reveal
from credentials.rotation import rotations_request
from credentials.selectors import credential_blockers, terminal_accounts
from lending import hooks, notifications, phrases, supervision
from lending.models import (
    AccessRequest,
    DataDisposition,
    Declaration,
    DeclarationKind,
    DeclarationStatus,
    Loan,
    LoanStatus,
    RequestStatus,
    ReturnCondition,
    ReturnConfirmation,
)
from lending.selectors import (
    access_request_queryset,
    checkout_refusals,
    close_blockers,
    loans_due_soon,
    loans_taken_annotation,
    overdue_loans,
)
from terminals import services as inventory
from terminals.models import AccessCard, Location, Terminal

ACKNOWLEDGEMENT = (
    "I will use this terminal and the information it reaches only for the disaster response "
    "named in this request, will not pass it to a retail company or anyone else, and will "
    "return it when asked. / 本端末および本端末で閲覧する情報を、本申請の非常災害対応以外の目的に"
    "使用せず、小売電気事業者その他の第三者に提供しないこと、返却を求められた際は速やかに返却する"
    "ことを誓約します。"
)

logger = logging.getLogger(__name__)


# Declarations ---------------------------------------------------------------------------------


@transaction.atomic
def declaration_declare(
    *,
    actor: User,
    title: str,
    sites: Iterable[Location],
    declared_at=None,
    lending_limit=None,
    kind: str = DeclarationKind.DISASTER,
) -> Declaration:
    sites = list(sites)
    errors: dict[str, list[str]] = {}
    if not title.strip():
        errors["title"] = [_("A title is required.")]
    if not sites:
        errors["sites"] = [_("Choose at least one site.")]
    elif any(site.kind != Location.Kind.SITE for site in sites):
        errors["sites"] = [_("The area is made of sites.")]
    declared_at = declared_at or timezone.now()
    if lending_limit is not None and lending_limit <= declared_at:
        errors["lending_limit"] = [_("The lending limit must be after the declaration.")]
    if errors:
        raise InvalidInput(_("The declaration was not saved."), field_errors=errors)
    declaration = Declaration.objects.create(
        title=title.strip(),
        declared_at=declared_at,
        declared_by=actor,
        lending_limit=lending_limit,
        kind=kind,
    )
    declaration.sites.set(sites)
    record_event(
        actor=actor,
        action="declaration.declared",
        obj=declaration,
        details={
            "title": declaration.title,
            "sites": [site.code for site in sites],
            "lending_limit": lending_limit.isoformat() if lending_limit else None,
        },
    )
    return declaration


@transaction.atomic
def declaration_lift(
    *, declaration: Declaration, actor: User | None, grace_hours: int | None = None
) -> Declaration:
    """Lifting makes every open loan under the declaration due after the grace period."""
    declaration = Declaration.objects.select_for_update(of=("self",)).get(pk=declaration.pk)
    check_transition(declaration, DeclarationStatus.LIFTED)
    now = timezone.now()
    grace = grace_hours if grace_hours is not None else settings.LENDING_GRACE_HOURS
    due = now + timedelta(hours=grace)
    declaration.status, declaration.lifted_at, declaration.lifted_by = (
        DeclarationStatus.LIFTED,
        now,
        actor,
    )
    declaration.grace_hours = grace
    declaration.save(update_fields=["status", "lifted_at", "lifted_by", "grace_hours"])
    # A loan still being handed out is made due too; one whose check-out had not committed yet
    # is made due when it is confirmed (_confirm_lent reads the grace stored above).
    made_due = Loan.objects.filter(
        request__declaration=declaration, status__in=Loan.OUT, due_at__gt=due
    )
    loan_ids = list(made_due.values_list("pk", flat=True))
    made_due.update(due_at=due)
    # Requests not yet decided can no longer be served: cancelled, each with its event and its
    # email to the contractor and staff, as a cancellation by hand has.
    undecided = AccessRequest.objects.select_for_update(of=("self",)).filter(
        declaration=declaration, status=RequestStatus.SUBMITTED
    )
    cancelled = list(undecided.order_by("pk"))
    AccessRequest.objects.filter(pk__in=[request.pk for request in cancelled]).update(
        status=RequestStatus.CANCELLED,
        decided_at=now,
        decision_reason="",
        decision_phrase=phrases.DECLARATION_LIFTED().stored(),
    )
    record_events(
        actor=actor,
        events=[
            ("access_request.cancelled", request, {"reason": phrases.DECLARATION_LIFTED().stored()})
            for request in cancelled
        ],
    )
    for request in cancelled:
        notifications.request_event(request_id=request.pk, event=RequestStatus.CANCELLED)
    record_event(
        actor=actor,
        action="declaration.lifted",
        obj=declaration,
        details={
            "grace_hours": grace,
            "due_at": due.isoformat(),
            "loans_made_due": loan_ids,
            "requests_cancelled": [request.pk for request in cancelled],
        },
    )
    return declaration


@transaction.atomic
def declaration_close(*, declaration: Declaration, actor: User) -> Declaration:
    """Closing is refused while anything lent under the declaration is out or not rotated."""
    declaration = Declaration.objects.select_for_update(of=("self",)).get(pk=declaration.pk)
    check_transition(declaration, DeclarationStatus.CLOSED)
    reasons = close_blockers(declaration=declaration)
    if reasons:
        raise RuleViolation(_("The declaration cannot be closed yet."), reasons=reasons)
    declaration.status, declaration.closed_at, declaration.closed_by = (
        DeclarationStatus.CLOSED,
        timezone.now(),
        actor,
    )
    declaration.save(update_fields=["status", "closed_at", "closed_by"])
    record_event(
        actor=actor,
        action="declaration.closed",
        obj=declaration,
        details={"loans": declaration_loan_count(declaration)},
    )
    hooks.declaration_closed(declaration, actor)
    return declaration


def declaration_loan_count(declaration: Declaration) -> int:
    return (
        Loan.objects.filter(request__declaration=declaration)
        .exclude(status=LoanStatus.ABANDONED)
        .count()
    )


# Access requests ------------------------------------------------------------------------------


def access_request_errors(
    *,
    actor: User,
    declaration: Declaration | None,
    work_site: str,
    quantity: int | None,
    operators: list[str],
    purpose: str,
    needed_until: datetime | None,
) -> dict[str, list[str]]:
    """Every rule a request breaks, per field, writing nothing: the form shows them all in one
    round (`None` for a value the form could not read)."""
    errors: dict[str, list[str]] = {}
    if declaration is not None:
        declaration = Declaration.objects.filter(pk=declaration.pk).first()  # its status now
    organization = actor.organization
    if organization is None or organization.kind != Organization.Kind.CONTRACTOR:
        raise RuleViolation(_("Only a contractor's users can submit an access request."))
    if declaration is None or declaration.status != DeclarationStatus.ACTIVE:
        errors["declaration"] = [_("There is no active declaration to request terminals under.")]
    if quantity is None or not 1 <= quantity <= settings.LENDING_MAX_QUANTITY:
        errors["quantity"] = [
            _("Ask for between 1 and %(max)s terminals.") % {"max": settings.LENDING_MAX_QUANTITY}
        ]
    if not [name for name in operators if name.strip()]:
        errors["operators"] = [_("Name at least one operator who will use the terminals.")]
    else:  # contractor supervision: only operators whose training is current
        untrained = supervision.operator_errors(
            declaration=declaration, contractor=organization, operators=operators
        )
        if untrained:
            errors["operators"] = untrained
    if not work_site.strip():
        errors["work_site"] = [_("Say where the terminals will be used.")]
    if not purpose.strip():
        errors["purpose"] = [_("Say what the terminals are needed for.")]
    if needed_until is None:
        errors["needed_until"] = [_("Give the date and time until which they are needed.")]
    elif needed_until <= timezone.now():
        errors["needed_until"] = [_("“Needed until” must be in the future.")]
    elif (
        declaration is not None
        and declaration.lending_limit
        and needed_until > declaration.lending_limit
    ):
        errors["needed_until"] = [
            _("“Needed until” is after the declaration's lending limit (%(limit)s).")
            % {"limit": timezone.localtime(declaration.lending_limit).strftime("%Y-%m-%d %H:%M")}
        ]
    return errors


@transaction.atomic
def access_request_submit(
    *,
    actor: User,
    declaration: Declaration | None,
    work_site: str,
    quantity: int,
    operators: list[str],
    purpose: str,
    needed_until: datetime,
) -> AccessRequest:
    if declaration is not None:
        # Locked until the request is stored: a lift waits for it, and then cancels it with the
        # others; a submit that comes second sees the declaration lifted.
        declaration = (
            Declaration.objects.select_for_update(of=("self",)).filter(pk=declaration.pk).first()
        )
    errors = access_request_errors(
        actor=actor,
        declaration=declaration,
        work_site=work_site,
        quantity=quantity,
        operators=operators,
        purpose=purpose,
        needed_until=needed_until,
    )
    if errors:
        raise InvalidInput(_("The request was not submitted."), field_errors=errors)
    organization = actor.organization
    operators = [name.strip() for name in operators if name.strip()]
    assert declaration is not None, "no declaration is refused above, in errors['declaration']"
    assert organization is not None, "refused above: only a contractor's users submit"
    request = AccessRequest.objects.create(
        declaration=declaration,
        contractor=organization,
        submitted_by=actor,
        work_site=work_site.strip(),
        quantity=quantity,
        operators=operators,
        purpose=purpose.strip(),
        needed_until=needed_until,
    )
    record_event(
        actor=actor,
        action="access_request.submitted",
        obj=request,
        details={
            "declaration": declaration.pk,
            "contractor": organization.code,
            "quantity": quantity,
            "operators": operators,
            "needed_until": needed_until.isoformat(),
        },
    )
    notifications.request_event(request_id=request.pk, event="submitted")
    return request


def _decide(
    request: AccessRequest, *, actor: User, to_status: str, reason: str, action: str
) -> AccessRequest:
    request = AccessRequest.objects.select_for_update(of=("self",)).get(pk=request.pk)
    check_transition(request, to_status)
    request.status, request.decided_by, request.decided_at = to_status, actor, timezone.now()
    request.decision_reason = reason
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    record_event(actor=actor, action=action, obj=request, details={"reason": reason})
    notifications.request_event(request_id=request.pk, event=to_status)
    return request


@transaction.atomic
def access_request_approve(
    *, request: AccessRequest, actor: User, reason: str = ""
) -> AccessRequest:
    if request.declaration.status != DeclarationStatus.ACTIVE:
        raise RuleViolation(_("The declaration is no longer active."))
    return _decide(
        request,
        actor=actor,
        to_status=RequestStatus.APPROVED,
        reason=reason,
        action="access_request.approved",
    )


@transaction.atomic
def access_request_reject(*, request: AccessRequest, actor: User, reason: str) -> AccessRequest:
    if not reason.strip():
        raise InvalidInput(
            _("The request was not rejected."),
            field_errors={"reason": [_("A reason is required.")]},
        )
    return _decide(
        request,
        actor=actor,
        to_status=RequestStatus.REJECTED,
        reason=reason.strip(),
        action="access_request.rejected",
    )


@transaction.atomic
def access_request_cancel(
    *, request: AccessRequest, actor: User, reason: str = ""
) -> AccessRequest:
    """The contractor withdraws an open request; terminals already handed out stay lent."""
    if (
        not actor.has_perm("lending.change_accessrequest")
        and actor.organization_id != request.contractor_id
    ):
        raise RuleViolation(_("You can cancel only your own organization's requests."))
    if request.loans.filter(status__in=Loan.OUT).exists():
        raise RuleViolation(_("Terminals of this request are out; return them first."))
    return _decide(
        request,
        actor=actor,
        to_status=RequestStatus.CANCELLED,
        reason=reason,
        action="access_request.cancelled",
    )


# Check-out ------------------------------------------------------------------------------------


def loan_checkout(
    *,
    request: AccessRequest | int,
    terminal: Terminal | str,
    actor: User,
    operator_name: str,
    acknowledged_name: str,
    operator_reason: str = "",
    cards: Iterable[AccessCard] | None = None,
) -> Loan:
    """Hand out one terminal: reserve it (one winner under the row lock), unlock its accounts on
    their targets, and only then record it as lent. It goes to one of the request's named
    operators (staff may add one, with a reason that is audited), who signs for it.

    The request and the terminal may be given by reference, as the API receives them: the
    request's number (one the actor may see) and the terminal's asset tag. Each is then read
    once, under its lock; one that does not exist answers on its field, with the others."""
    loan, cards, accounts = _reserve(
        request=request,
        terminal=terminal,
        actor=actor,
        operator_name=operator_name,
        operator_reason=operator_reason,
        acknowledged_name=acknowledged_name,
        # None: the terminal's cards in storage; an empty list: it goes out without cards.
        cards=None if cards is None else list(cards),
    )
    # Unlocked on their targets between the two transactions, recorded in the second.
    unlocked: list[Account] = []
    try:
        accounts_unlock_on_targets(accounts=accounts, unlocked=unlocked)
    except (ConnectorError, RuleViolation) as exc:
        _abandon(loan=loan, actor=actor, unlocked=unlocked, error=str(exc))
        raise RuleViolation(
            _("Terminal %(tag)s was not handed out: an account could not be unlocked.")
            % {"tag": loan.terminal.asset_tag},
            reasons=[str(exc)],
        ) from exc
    loan = _confirm_lent(loan=loan, actor=actor, cards=cards, accounts=accounts)
    # What the caller shows of the loan, as written: no need to read it back.
    loan.handed_out_cards = cards  # type: ignore[attr-defined]
    loan.terminal_accounts = accounts  # type: ignore[attr-defined]
    return loan


def same_person(name: str, other: str) -> bool:
    """Typed names of one person: full width or not, with or without the space."""
    return "".join(unicodedata.normalize("NFKC", name).split()) == "".join(
        unicodedata.normalize("NFKC", other).split()
    )


def _operator_errors(
    request: AccessRequest, operator_name: str, acknowledged_name: str, operator_reason: str
) -> tuple[dict[str, list[str]], str | None]:
    """What is wrong with who receives the terminal and who signs, per field, and the name the
    request gives the operator (None: not one it names)."""
    errors: dict[str, list[str]] = {}
    named = next((n for n in request.operators if same_person(n, operator_name)), None)
    if not operator_name.strip():
        errors["operator_name"] = [_("Name the operator who receives the terminal.")]
    elif named is None and not operator_reason.strip():
        errors["operator_name"] = [
            _(
                "%(name)s is not among the operators the request names (%(named)s): choose one, "
                "or add them with a reason."
            )
            % {"name": operator_name.strip(), "named": "、".join(request.operators)}
        ]
    if not acknowledged_name.strip():
        errors["acknowledged_name"] = [
            _("The operator signs the acknowledgement of the handling rules.")
        ]
    elif operator_name.strip() and not same_person(operator_name, acknowledged_name):
        errors["acknowledged_name"] = [
            _("The operator who receives it signs: type %(name)s's full name.")
            % {"name": named or operator_name.strip()}
        ]
    return errors, named


@transaction.atomic
def _reserve(
    *,
    request: AccessRequest | int,
    terminal: Terminal | str,
    actor: User,
    operator_name: str,
    operator_reason: str,
    acknowledged_name: str,
    cards: list[AccessCard] | None,
) -> tuple[Loan, list[AccessCard], list[Account]]:
    errors: dict[str, list[str]] = {}
    if isinstance(request, AccessRequest):
        requests, request_pk = AccessRequest.objects.all(), request.pk
    else:  # by number: only a request the actor may see can be served
        requests, request_pk = access_request_queryset(user=actor), request
    locked_request = (
        requests.select_for_update(of=("self",))
        # Only what the check-out reads, and no ordering: fewer joins for PostgreSQL to plan.
        .select_related(None)
        .select_related("declaration", "contractor")
        .order_by()
        # Contractor supervision and the loans already taken, read in the same statement.
        .annotate(**supervision.checkout_annotations(operator_name=operator_name))
        .annotate(loans_taken=loans_taken_annotation())
        .filter(pk=request_pk)
        .first()
    )
    if locked_request is None:
        errors["request"] = [
            _("No access request has the number %(number)s.") % {"number": request_pk}
        ]
    # Locked once: terminal_reserve below uses this instance as it is.
    locked_terminal = inventory.terminal_lock(terminal)
    if locked_terminal is None:
        errors["terminal"] = [_("No terminal has the asset tag %(tag)s.") % {"tag": terminal}]
    named = None
    if locked_request is not None:
        operator_errors, named = _operator_errors(
            locked_request, operator_name, acknowledged_name, operator_reason
        )
        errors.update(operator_errors)
    if errors:
        raise InvalidInput(_("The terminal was not handed out."), field_errors=errors)
    assert locked_request is not None and locked_terminal is not None, "refused just above"
    request, terminal = locked_request, locked_terminal
    added_because = operator_reason.strip() if named is None else ""
    operator_name = named or operator_name.strip()
    acknowledged_name = acknowledged_name.strip()
    # Read once: checked here, unlocked on their targets after this transaction.
    accounts = list(terminal_accounts(terminal=terminal))
    supervision_check = supervision.checkout_check(
        declaration=request.declaration,
        contractor=request.contractor,
        operator_name=operator_name,
        report_current=getattr(request, "supervision_report_current", None),
        training_current=getattr(request, "supervision_training_current", None),
    )
    reasons = checkout_refusals(
        request=request,
        terminal=terminal,
        actor=actor,
        accounts=accounts,
        supervision_check=supervision_check,
    )
    # Cards go out with the terminal only from storage; read them under their locks.
    cards = inventory.access_cards_lock(
        terminal.access_cards.filter(status=AccessCard.Status.IN_STORAGE)
        if cards is None
        else AccessCard.objects.filter(pk__in=[card.pk for card in cards])
    )
    reasons += [
        _("Access card %(number)s is not in storage.") % {"number": card.card_number}
        for card in cards
        if card.status != AccessCard.Status.IN_STORAGE
    ]
    if reasons:
        raise RuleViolation(
            _("Terminal %(tag)s cannot be handed out.") % {"tag": terminal.asset_tag},
            reasons=reasons,
        )
    if added_because:
        request.operators = [*request.operators, operator_name]
        request.save(update_fields=["operators"])
        record_event(
            actor=actor,
            action="access_request.operator_added",
            obj=request,
            details={"operator": operator_name, "reason": added_because},
        )
    terminal = inventory.terminal_reserve(
        terminal=terminal,
        actor=actor,
        reason=phrases.RESERVED_FOR_REQUEST(id=request.pk),
    )
    now = timezone.now()
    try:
        # No savepoint: losing the race for the partial unique constraint (one loan out per
        # terminal) ends this whole transaction, which is what the refusal below means.
        loan = Loan.objects.create(
            request=request,
            terminal=terminal,
            work_site=request.work_site,
            operator_name=operator_name,
            handed_out_by=actor,
            checked_out_at=now,
            due_at=request.needed_until,
            acknowledgement_text=ACKNOWLEDGEMENT,
            acknowledged_name=acknowledged_name,
            acknowledged_at=now,
            # A supervision rule refused it; a security officer's exception let it through.
            supervision_exception=next(iter(supervision_check.exceptions), None),
        )
    except IntegrityError as exc:
        raise RuleViolation(
            _("Terminal %(tag)s is already being handed out.") % {"tag": terminal.asset_tag}
        ) from exc
    if cards:
        Loan.cards.through.objects.bulk_create(
            [Loan.cards.through(loan=loan, accesscard=card) for card in cards]
        )
    return loan, cards, accounts


@transaction.atomic
def _abandon(*, loan: Loan, actor: User, unlocked: list[Account], error: str) -> None:
    # One conditional UPDATE decides between this and the sweeper of stuck check-outs: a loan
    # the sweeper abandoned first has had every account of its terminal sent to rotation.
    if not Loan.objects.filter(pk=loan.pk, status=LoanStatus.CHECKING_OUT).update(
        status=LoanStatus.ABANDONED
    ):
        return
    loan = Loan.objects.select_related("terminal").get(pk=loan.pk)
    # What the targets did is recorded, then undone: each account opened for this loan is
    # rotated, since it may have been seen unlocked.
    accounts_record_state(accounts=unlocked, actor=actor, to_state=AccountState.UNLOCKED)
    rotations_request(accounts=unlocked, reason=RotationReason.REVOKED, actor=actor)
    inventory.terminal_return_to_storage(
        terminal=loan.terminal, actor=actor, reason=phrases.HAND_OUT_FAILED()
    )
    record_event(actor=actor, action="loan.abandoned", obj=loan, details={"error": error[:500]})


def stuck_checkouts_recover(*, older_than_seconds: int | None = None) -> int:
    """Abandon every check-out still `checking_out` after CHECKOUT_STUCK_SECONDS: the process
    that reserved it died before it lent or abandoned it. Which of the terminal's accounts it
    had unlocked on their targets is unknown, so every one is rotated (a rotation locks it and
    changes its password). Run by the scheduler and by `manage.py recover`; answers how many
    it abandoned."""
    wait = older_than_seconds if older_than_seconds is not None else settings.CHECKOUT_STUCK_SECONDS
    cutoff = timezone.now() - timedelta(seconds=wait)
    stuck = Loan.objects.filter(status=LoanStatus.CHECKING_OUT, checked_out_at__lte=cutoff)
    recovered = 0
    for loan_id in stuck.order_by("pk").values_list("pk", flat=True):
        try:
            recovered += _stuck_checkout_abandon(loan_id=loan_id, waited=wait)
        except Exception:  # this loan stays for the next run; the others go on
            logger.exception("stuck check-out %s could not be recovered", loan_id)
    return recovered


@transaction.atomic
def _stuck_checkout_abandon(*, loan_id: int, waited: int) -> bool:
    # The loan's transition decides between the sweeper and a check-out finishing right now
    # (_confirm_lent's UPDATE of the same row): whichever commits first wins, the other's
    # conditional UPDATE then matches nothing.
    if not Loan.objects.filter(pk=loan_id, status=LoanStatus.CHECKING_OUT).update(
        status=LoanStatus.ABANDONED
    ):
        return False
    loan = Loan.objects.select_related("terminal").get(pk=loan_id)
    accounts = list(
        Account.objects.filter(terminal_id=loan.terminal_id)
        .exclude(state=AccountState.DELETED)
        .select_related("target_system")
        .order_by("pk")
    )
    # Each rotation's own audit event names its account.
    rotations_request(accounts=accounts, reason=RotationReason.REVOKED, actor=None)
    # The cards were only chosen: they go out (lent) with the terminal in _confirm_lent, so
    # they are still in storage.
    if loan.terminal.status == Terminal.Status.RESERVED:
        inventory.terminal_return_to_storage(
            terminal=loan.terminal, actor=None, reason=phrases.HAND_OUT_FAILED()
        )
    record_event(
        actor=None,
        action="loan.abandoned",
        obj=loan,
        details={
            "error": f"recovered: the check-out was interrupted and still unfinished after "
            f"{waited} s; every account of the terminal is rotated",
            "recovered": True,
            "terminal": loan.terminal.asset_tag,
        },
    )
    return True


def _to_status(model, pk: int, field: str, to_status: str) -> None:
    """Change a row's status in one conditional UPDATE (it takes the row lock and checks the
    transition is allowed from the state the row is in now); refused as check_transition
    refuses it when the row is in another state."""
    allowed_from = [
        status for status, targets in model.ALLOWED_TRANSITIONS.items() if to_status in targets
    ]
    if not model.objects.filter(pk=pk, **{f"{field}__in": allowed_from}).update(
        **{field: to_status}
    ):
        check_transition(model.objects.get(pk=pk), to_status, field=field)


@transaction.atomic
def _confirm_lent(
    *, loan: Loan, actor: User, cards: list[AccessCard], accounts: list[Account]
) -> Loan:
    _to_status(Loan, loan.pk, "status", LoanStatus.OPEN)
    loan.status = LoanStatus.OPEN
    # Lifted after this check-out began (read now, not as _reserve saw it): due at the end of
    # the lift's grace, as the lift made every loan it found out.
    lifted_at, grace_hours = Declaration.objects.values_list("lifted_at", "grace_hours").get(
        pk=loan.request.declaration_id
    )
    if lifted_at is not None:
        grace_ends = lifted_at + timedelta(hours=grace_hours or 0)
        if loan.due_at > grace_ends:
            Loan.objects.filter(pk=loan.pk, due_at__gt=grace_ends).update(due_at=grace_ends)
            loan.due_at = grace_ends
    accounts_record_state(accounts=accounts, actor=actor, to_state=AccountState.UNLOCKED)
    loan.terminal = inventory.terminal_lend(
        terminal=loan.terminal,
        actor=actor,
        reason=phrases.LENT_FOR_REQUEST(id=loan.request_id),
    )
    if cards:
        cards = inventory.access_cards_lock(
            AccessCard.objects.filter(pk__in=[card.pk for card in cards])
        )
    for card in cards:
        inventory.access_card_lend(
            card=card,
            actor=actor,
            reason=phrases.CARD_WITH_TERMINAL(tag=loan.terminal.asset_tag),
        )
    record_event(
        actor=actor,
        action="loan.checked_out",
        obj=loan,
        details={
            "terminal": loan.terminal.asset_tag,
            "request": loan.request_id,
            "contractor": loan.request.contractor.code,
            "operator": loan.operator_name,
            "acknowledged_by": loan.acknowledged_name,
            "cards": [card.card_number for card in cards],
            "due_at": loan.due_at.isoformat(),
            # Only when a security officer's exception let it through (contractor supervision).
            **(
                {"supervision_exception": loan.supervision_exception_id}
                if loan.supervision_exception_id
                else {}
            ),
        },
    )
    return loan


# Credentials to the borrower ------------------------------------------------------------------


@transaction.atomic
def loan_reveal(*, loan: Loan, actor: User) -> list[tuple[Account, str, str]]:
    """Every account of a loan's terminal, revealed once together: all or nothing."""
    loan = Loan.objects.select_for_update(of=("self",)).get(pk=loan.pk)
    if loan.status != LoanStatus.OPEN or loan.revoked_at is not None:
        raise RuleViolation(_("This loan is not open: its credentials cannot be shown."))
    accounts = loan.terminal.accounts.exclude(state=AccountState.DELETED).select_related(
        "target_system"
    )
    return [(account, *secret_reveal(account=account, actor=actor)) for account in accounts]


# Return ---------------------------------------------------------------------------------------


@transaction.atomic
def loan_return(
    *,
    loan: Loan,
    actor: User,
    condition: str,
    cards_returned: Iterable[AccessCard],
    return_location: Location,
    handed_back_by: str,
    operator_signature: str,
    data_disposition: str,
    notes: str = "",
) -> ReturnConfirmation:
    """Record the check-in confirmed by both sides, and request the rotation of every account
    of the terminal in the same transaction."""
    errors: dict[str, list[str]] = {}
    if condition not in ReturnCondition.values:
        errors["condition"] = [_("Choose the terminal's condition.")]
    if not handed_back_by.strip():
        errors["handed_back_by"] = [_("Name the operator who hands the terminal back.")]
    if not operator_signature.strip():
        errors["operator_signature"] = [_("The operator signs the return.")]
    if data_disposition not in DataDisposition.values:
        errors["data_disposition"] = [
            _("Say what became of the data and printouts obtained for the work.")
        ]
    if errors:
        raise InvalidInput(_("The return was not recorded."), field_errors=errors)
    loan = (
        Loan.objects.select_for_update(of=("self",))
        .select_related("terminal", "request__contractor", "handed_out_by", "revoked_by")
        .get(pk=loan.pk)
    )
    check_transition(loan, LoanStatus.RETURNED)
    # Under their locks: the transitions below use them as they are.
    lent_cards = inventory.access_cards_lock(loan.cards.all())
    returned_pks = {card.pk for card in cards_returned}
    returned = [card for card in lent_cards if card.pk in returned_pks]
    missing = [
        card
        for card in lent_cards
        if card not in returned and card.status == AccessCard.Status.LENT
    ]
    now = timezone.now()
    loan.status = LoanStatus.RETURNED
    loan.save(update_fields=["status"])
    confirmation = ReturnConfirmation.objects.create(
        loan=loan,
        returned_at=now,
        condition=condition,
        return_location=return_location,
        handed_back_by=handed_back_by.strip(),
        operator_signature=operator_signature.strip(),
        received_by=actor,
        notes=notes,
        data_disposition=data_disposition,
    )
    if returned:
        ReturnConfirmation.cards_returned.through.objects.bulk_create(
            [
                ReturnConfirmation.cards_returned.through(
                    returnconfirmation=confirmation, accesscard=card
                )
                for card in returned
            ]
        )
    loan.terminal = inventory.terminal_mark_returned(
        terminal=loan.terminal,
        actor=actor,
        to_location=return_location,
        reason=phrases.RETURNED_IN_CONDITION(condition=condition),
    )
    for card in returned:
        if card.status == AccessCard.Status.LENT:
            inventory.access_card_return_to_storage(
                card=card,
                actor=actor,
                reason=phrases.CARD_RETURNED_WITH(tag=loan.terminal.asset_tag),
            )
    for card in missing:
        hooks.card_not_returned(loan, card, actor)
    accounts = list(
        Account.objects.filter(terminal_id=loan.terminal_id)
        .exclude(state=AccountState.DELETED)
        .select_related("target_system", "current_version")
    )
    rotations_request(accounts=accounts, reason=RotationReason.RETURN, actor=actor)
    record_event(
        actor=actor,
        action="loan.returned",
        obj=loan,
        details={
            "terminal": loan.terminal.asset_tag,
            "condition": condition,
            "cards_returned": [card.card_number for card in returned],
            "cards_missing": [card.card_number for card in missing],
            "return_location": return_location.code,
            "handed_back_by": confirmation.handed_back_by,
            "received_by": actor.get_username(),
            "data_disposition": data_disposition,
        },
    )
    # What the caller shows of the loan, as written: no need to read it back.
    loan.handed_out_cards = lent_cards  # type: ignore[attr-defined]
    loan.terminal_accounts = accounts  # type: ignore[attr-defined]
    confirmation.returned_cards = returned  # type: ignore[attr-defined]
    return confirmation


def returned_terminals_settle() -> int:
    """Move each returned terminal on once its accounts were rotated: to storage when its
    condition is ok, to maintenance otherwise. Run by the scheduler."""
    settled = 0
    pending = ReturnConfirmation.objects.filter(
        settled_at__isnull=True, loan__terminal__status=Terminal.Status.RETURNED
    )
    for confirmation in pending.select_related("loan__terminal", "return_location"):
        terminal = confirmation.loan.terminal
        if credential_blockers(terminal=terminal):
            continue
        with transaction.atomic():
            locked = ReturnConfirmation.objects.select_for_update(of=("self",)).get(
                pk=confirmation.pk
            )
            if locked.settled_at is not None:
                continue
            if confirmation.condition == ReturnCondition.OK:
                inventory.terminal_return_to_storage(
                    terminal=terminal, actor=None, reason=phrases.ROTATED_AND_INSPECTED()
                )
            else:
                inventory.terminal_send_to_maintenance(
                    terminal=terminal,
                    actor=None,
                    reason=phrases.RETURNED_IN_CONDITION(condition=confirmation.condition),
                )
            locked.settled_at = timezone.now()
            locked.save(update_fields=["settled_at"])
        settled += 1
    return settled


# Revocation and loss --------------------------------------------------------------------------


def _rotate_accounts_of_loan(*, loan: Loan, actor: User) -> list[Account]:
    """In the revocation's (or loss's) transaction: the rotation of every account of the
    terminal is the record that they must stop working (a rotation locks the account on its
    target and changes its login ID and password; the sweeper resends one a crash left
    unsent). Answers the accounts that were unlocked, for the immediate lock after the commit."""
    accounts = list(
        Account.objects.filter(terminal_id=loan.terminal_id)
        .exclude(state=AccountState.DELETED)
        .select_related("target_system")
        .order_by("pk")
    )
    unlocked = [account for account in accounts if account.state == AccountState.UNLOCKED]
    rotations_request(accounts=accounts, reason=RotationReason.REVOKED, actor=actor)
    return unlocked


def _lock_at_once(accounts: list[Account]) -> None:
    """After the commit, best effort: lock on their targets now the accounts the rotations
    will lock anyway (a rotation may wait for a worker). A failure here changes nothing that
    committed: the rotation locks the account, retrying until its target answers."""
    try:
        accounts_lock_on_targets(accounts=accounts)
    except Exception:
        logger.warning("the immediate lock of a revoked loan's accounts failed", exc_info=True)


def loan_revoke(*, loan: Loan, actor: User, reason: str) -> Loan:
    """Stolen terminal or misuse: lock and rotate its accounts now, while the device is out.
    The loan stays open until the terminal is returned or declared lost."""
    if not reason.strip():
        raise InvalidInput(
            _("The loan was not revoked."), field_errors={"reason": [_("A reason is required.")]}
        )
    with transaction.atomic():
        loan = Loan.objects.select_for_update(of=("self",)).get(pk=loan.pk)
        if loan.status != LoanStatus.OPEN:
            raise RuleViolation(_("Only an open loan can be revoked."))
        if loan.revoked_at is not None:
            raise RuleViolation(_("This loan was already revoked."))
        loan.revoked_at, loan.revoked_by, loan.revocation_reason = (
            timezone.now(),
            actor,
            reason.strip(),
        )
        loan.save(update_fields=["revoked_at", "revoked_by", "revocation_reason"])
        record_event(
            actor=actor,
            action="loan.revoked",
            obj=loan,
            details={"terminal": loan.terminal.asset_tag, "reason": reason.strip()},
        )
        unlocked = _rotate_accounts_of_loan(loan=loan, actor=actor)
    _lock_at_once(unlocked)
    return loan


def loan_mark_lost(*, loan: Loan, actor: User, reason: str) -> Loan:
    if not reason.strip():
        raise InvalidInput(
            _("Nothing was recorded."), field_errors={"reason": [_("A reason is required.")]}
        )
    with transaction.atomic():
        loan = Loan.objects.select_for_update(of=("self",)).get(pk=loan.pk)
        check_transition(loan, LoanStatus.LOST)
        loan.status = LoanStatus.LOST
        loan.save(update_fields=["status"])
        inventory.terminal_mark_lost(terminal=loan.terminal, actor=actor, reason=reason.strip())
        for card in loan.cards.filter(status=AccessCard.Status.LENT):
            inventory.access_card_mark_lost(card=card, actor=actor, reason=reason.strip())
        record_event(
            actor=actor,
            action="loan.lost",
            obj=loan,
            details={"terminal": loan.terminal.asset_tag, "reason": reason.strip()},
        )
        unlocked = _rotate_accounts_of_loan(loan=loan, actor=actor)
    _lock_at_once(unlocked)
    return loan


def loan_approve_extra_reveal(*, loan: Loan, actor: User, reason: str) -> int:
    """A security officer lets the borrower see the loan's login IDs and passwords once more
    (each account's approval is its own audit event). Answers how many accounts it opened."""
    if not reason.strip():
        raise InvalidInput(
            _("No approval was recorded."), field_errors={"reason": [_("A reason is required.")]}
        )
    if loan.status != LoanStatus.OPEN or loan.revoked_at is not None:
        raise RuleViolation(_("This loan is not open: its credentials cannot be shown."))
    approved = 0
    with transaction.atomic():
        for account in loan.terminal.accounts.exclude(state=AccountState.DELETED).select_related(
            "current_version"
        ):
            version = account.current_version
            if version is not None and version.revealed_at is not None:
                secret_approve_extra_reveal(account=account, actor=actor, reason=reason.strip())
                approved += 1
    if not approved:
        raise RuleViolation(_("Nothing of this loan has been shown yet; no approval is needed."))
    return approved


# Reminders ------------------------------------------------------------------------------------


def overdue_notify(*, now=None) -> int:
    """One summary email per recipient about every overdue loan they should act on."""
    now = now or timezone.now()
    loans = list(overdue_loans(now=now))
    notifications.loan_summary(loans=loans, kind="overdue")
    Loan.objects.filter(pk__in=[loan.pk for loan in loans]).update(last_overdue_notice_at=now)
    return len(loans)


def due_soon_notify(*, now=None) -> int:
    now = now or timezone.now()
    loans = list(loans_due_soon(now=now))
    notifications.loan_summary(loans=loans, kind="due_soon")
    Loan.objects.filter(pk__in=[loan.pk for loan in loans]).update(due_soon_notice_at=now)
    return len(loans)
