"""Reads for lending: what each user may see (a contractor sees only their organization's
requests and loans), why a terminal may not be lent now, and the close report."""

from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Reason
from core.models import User
from credentials.models import (
    OPEN_ROTATION_STATUSES,
    Account,
    AccountState,
    Rotation,
    RotationStatus,
)
from credentials.selectors import credential_blockers, terminal_accounts
from lending import hooks, supervision
from lending.models import (
    AccessRequest,
    Arrangement,
    Declaration,
    DeclarationKind,
    DeclarationStatus,
    Loan,
    LoanStatus,
    RequestStatus,
)
from terminals.models import AccessCard, Terminal


def sees_only_own_organization(user: User) -> bool:
    """Contractors' users see their own organization's requests and loans, and only active
    declarations; whoever oversees lending (staff, security, auditors) sees everything."""
    return not user.has_perm("lending.oversee_lending")


def declaration_queryset(*, user: User) -> QuerySet[Declaration]:
    qs = Declaration.objects.prefetch_related("sites").select_related("declared_by")
    if not user.has_perm("lending.view_declaration"):
        return qs.none()
    if sees_only_own_organization(user):
        return qs.filter(status=DeclarationStatus.ACTIVE)
    return qs


def active_declarations() -> QuerySet[Declaration]:
    return Declaration.objects.filter(status=DeclarationStatus.ACTIVE).prefetch_related("sites")


def access_request_queryset(*, user: User) -> QuerySet[AccessRequest]:
    qs = AccessRequest.objects.select_related(
        "declaration", "contractor", "submitted_by", "decided_by"
    )
    if not user.has_perm("lending.view_accessrequest"):
        return qs.none()
    if sees_only_own_organization(user):
        return qs.filter(contractor_id=user.organization_id) if user.organization_id else qs.none()
    return qs


def loan_queryset(*, user: User) -> QuerySet[Loan]:
    qs = Loan.objects.select_related(
        "terminal", "request__contractor", "request__declaration", "handed_out_by"
    )
    if not user.has_perm("lending.view_loan"):
        return qs.none()
    if sees_only_own_organization(user):
        return (
            qs.filter(request__contractor_id=user.organization_id)
            if user.organization_id
            else qs.none()
        )
    return qs


def loan_holding(terminal: Terminal) -> list[str]:
    """The terminals app asks: a loan still out holds this terminal's state."""
    loan = (
        Loan.objects.filter(terminal=terminal, status__in=Loan.OUT)
        .select_related("request__contractor")
        .first()
    )
    if loan is None:
        return []
    return [
        _(
            "It is on loan #%(loan)s to %(contractor)s: it changes state only through its loan "
            "(return, lost, revocation)."
        )
        % {"loan": loan.pk, "contractor": loan.request.contractor.name}
    ]


def reveal_state(loan: Loan) -> str:
    """Where the borrower's look at the credentials stands: "unseen", "shown" (once; another
    needs a security officer) or "approved" (one more look allowed)."""
    versions = [
        account.current_version
        for account in loan.terminal.accounts.exclude(state=AccountState.DELETED).select_related(
            "current_version"
        )
        if account.current_version is not None
    ]
    shown = [v for v in versions if v.revealed_at is not None]
    if not shown:
        return "unseen"
    if all(v.extra_reveal_approved_by_id is not None for v in shown):
        return "approved"
    return "shown"


def borrower_may_reveal(user: User, account: Account) -> bool:
    """The reveal policy: a user of the contractor that holds an open, unrevoked loan of the
    account's terminal."""
    return (
        sees_only_own_organization(user)
        and user.organization_id is not None
        and Loan.objects.filter(
            status=LoanStatus.OPEN,
            revoked_at__isnull=True,
            terminal_id=account.terminal_id,
            request__contractor_id=user.organization_id,
        ).exists()
    )


def loans_out_count(request: AccessRequest) -> int:
    """Loans that count against the request's quantity (everything but failed hand-outs); read
    with the request by the check-out (`loans_taken_annotation`)."""
    taken = getattr(request, "loans_taken", None)
    if taken is not None:
        return taken
    return request.loans.exclude(status=LoanStatus.ABANDONED).count()


def loans_taken_annotation() -> Coalesce:
    """loans_out_count as an annotation on AccessRequest: the check-out reads it in the same
    statement as the request it locks."""
    taken = (
        Loan.objects.filter(request=OuterRef("pk"))
        .exclude(status=LoanStatus.ABANDONED)
        .order_by()
        .values("request")
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )
    return Coalesce(Subquery(taken), 0)


def checkout_refusals(
    *,
    request: AccessRequest,
    terminal: Terminal,
    actor: User,
    accounts: list | None = None,
    operator_name: str | None = None,
    supervision_check: supervision.SupervisionCheck | None = None,
) -> list[str]:
    """Every reason this terminal may not be handed out against this request by this person
    (to `operator_name`, whose training is then checked too)."""
    reasons = []
    declaration = request.declaration
    if terminal.status != Terminal.Status.IN_STORAGE:
        reasons.append(
            _("Terminal %(tag)s is not in storage (it is %(status)s).")
            % {"tag": terminal.asset_tag, "status": Terminal.Status(terminal.status).label}
        )
    if accounts is None:
        accounts = list(terminal_accounts(terminal=terminal))
    reasons += credential_blockers(terminal=terminal, accounts=accounts)
    if not accounts:
        # The borrower's reveal page would show nothing to sign in with.
        reasons.append(
            _("Terminal %(tag)s has no account to sign in with: add one before lending it.")
            % {"tag": terminal.asset_tag}
        )
    if declaration.status != DeclarationStatus.ACTIVE:
        reasons.append(
            _("The declaration “%(title)s” is not active.") % {"title": declaration.title}
        )
    if request.status != RequestStatus.APPROVED:
        reasons.append(
            _("Request #%(id)s is not approved (it is %(status)s).")
            % {"id": request.pk, "status": RequestStatus(request.status).label}
        )
    elif loans_out_count(request) >= request.quantity:
        reasons.append(
            _("Request #%(id)s already has its %(n)s terminals.")
            % {"id": request.pk, "n": request.quantity}
        )
    site_id = terminal.location.site_id
    # A location without a site is in none of the declaration's sites.
    if site_id is None or not declaration.sites.filter(pk=site_id).exists():
        reasons.append(
            _("Terminal %(tag)s is kept at a site outside the declaration's area.")
            % {"tag": terminal.asset_tag}
        )
    if settings.LENDING_SEPARATION_OF_DUTIES and request.decided_by_id == actor.pk:
        reasons.append(_("You approved this request, so someone else must hand out its terminals."))
    # Contractor supervision: the yearly report and the receiving operator's training.
    if supervision_check is None:
        supervision_check = supervision.checkout_check(
            declaration=declaration, contractor=request.contractor, operator_name=operator_name
        )
    reasons += supervision_check.reasons
    if declaration.kind == DeclarationKind.ARRANGEMENT:
        reasons += _arrangement_refusals(declaration, request, terminal)
    return reasons


def _arrangement_refusals(
    declaration: Declaration, request: AccessRequest, terminal: Terminal
) -> list[str]:
    """Under a time-boxed arrangement only its own terminals go out, to its parties, from its
    start (lending/arrangements.py)."""
    arrangement = Arrangement.objects.filter(declaration=declaration).first()
    if arrangement is None:
        return [_("The arrangement of “%(title)s” is missing.") % {"title": declaration.title}]
    reasons = []
    if not arrangement.terminals.filter(pk=terminal.pk).exists():
        reasons.append(
            _("Terminal %(tag)s is not covered by the arrangement “%(title)s”.")
            % {"tag": terminal.asset_tag, "title": arrangement.title}
        )
    if not arrangement.parties.filter(pk=request.contractor_id).exists():
        reasons.append(
            _("%(contractor)s is not a party to the arrangement “%(title)s”.")
            % {"contractor": request.contractor.name, "title": arrangement.title}
        )
    if arrangement.starts_at > timezone.now():
        reasons.append(
            _("The arrangement “%(title)s” starts only at %(start)s.")
            % {
                "title": arrangement.title,
                "start": timezone.localtime(arrangement.starts_at).strftime("%Y-%m-%d %H:%M"),
            }
        )
    return reasons


def close_blockers(*, declaration: Declaration) -> list[Reason]:
    """What is still out under a declaration: each item blocks closing it, and names the page
    where it is dealt with."""
    reasons = []
    rotations = reverse("credentials:rotations")
    loans = Loan.objects.filter(request__declaration=declaration).select_related("terminal")
    for loan in loans.filter(status__in=Loan.OUT):
        reasons.append(
            Reason(
                _("Terminal %(tag)s is still lent.") % {"tag": loan.terminal.asset_tag},
                reverse("lending:loan", args=[loan.pk]),
            )
        )
    # Still `returned`: waiting for the settle step. One moved on by hand meanwhile (to
    # maintenance, lost, retired) is never settled; its rotations are checked below all the same.
    for loan in loans.filter(
        status=LoanStatus.RETURNED,
        return_confirmation__settled_at__isnull=True,
        terminal__status=Terminal.Status.RETURNED,
    ):
        reasons.append(
            Reason(
                _("Terminal %(tag)s was returned but its rotation has not finished.")
                % {"tag": loan.terminal.asset_tag},
                rotations,
            )
        )
    unfinished = (
        Rotation.objects.filter(account__terminal__loans__request__declaration=declaration)
        .filter(
            Q(status__in=OPEN_ROTATION_STATUSES)
            # A failed rotation stays in the table after a retry succeeded; it blocks only
            # while its account is still waiting for that retry.
            | Q(status=RotationStatus.FAILED, account__state=AccountState.ROTATION_FAILED)
        )
        .select_related("account__terminal")
        .distinct()
    )
    for rotation in unfinished:
        reasons.append(
            Reason(
                _("A rotation of %(account)s (terminal %(tag)s) has not succeeded.")
                % {"account": rotation.account, "tag": rotation.account.terminal.asset_tag},
                rotations,
            )
        )
    cards = AccessCard.objects.filter(
        loans__request__declaration=declaration, status=AccessCard.Status.LENT
    ).distinct()
    for card in cards:
        reasons.append(
            Reason(
                _("Access card %(number)s is still lent.") % {"number": card.card_number},
                hooks.card_resolver_url(card)
                or reverse("terminals:card_detail", args=[card.card_number]),
            )
        )
    return reasons


def overdue_loans(*, now=None) -> QuerySet[Loan]:
    now = now or timezone.now()
    return Loan.objects.filter(status=LoanStatus.OPEN, due_at__lt=now).select_related(
        "terminal", "request__contractor"
    )


def loans_due_soon(*, now=None) -> QuerySet[Loan]:
    now = now or timezone.now()
    horizon = now + timedelta(hours=settings.LENDING_DUE_SOON_HOURS)
    return Loan.objects.filter(
        status=LoanStatus.OPEN, due_at__gte=now, due_at__lt=horizon, due_soon_notice_at__isnull=True
    ).select_related("terminal", "request__contractor")


def close_report(*, declaration: Declaration) -> list[dict]:
    """Each loan under a declaration from request to rotation, in check-out order."""
    loans = list(
        Loan.objects.filter(request__declaration=declaration)
        .exclude(status=LoanStatus.ABANDONED)
        .select_related(
            "terminal",
            "handed_out_by",
            "request__contractor",
            "request__submitted_by",
            "request__decided_by",
            "return_confirmation__received_by",
            "return_confirmation__return_location",
        )
        .order_by("checked_out_at")
    )
    # One query for every rotation of these terminals; each loan takes the first one that
    # succeeded after it came back (or was revoked), not a later loan's.
    succeeded = defaultdict(list)
    for terminal_id, requested_at, finished_at in (
        Rotation.objects.filter(
            account__terminal__in=[loan.terminal_id for loan in loans],
            status=RotationStatus.SUCCEEDED,
        )
        .order_by("finished_at")
        .values_list("account__terminal_id", "requested_at", "finished_at")
    ):
        assert finished_at is not None, "a rotation succeeds with its finish time (_make_current)"
        succeeded[terminal_id].append((requested_at, finished_at))
    rows = []
    for loan in loans:
        confirmation = getattr(loan, "return_confirmation", None)
        back_at = confirmation.returned_at if confirmation else loan.revoked_at
        after_return = [
            finished for requested, finished in succeeded[loan.terminal_id]
            if back_at is not None and requested >= back_at
        ]  # fmt: skip
        rows.append(
            {
                "loan": loan,
                "request": loan.request,
                "confirmation": confirmation,
                "rotated_at": max(after_return) if after_return else None,
                "rotations": len(after_return),
            }
        )
    return rows


def request_counts(*, user: User) -> dict[str, int]:
    qs = access_request_queryset(user=user).order_by()
    return dict(qs.values_list("status").annotate(n=Count("id")).values_list("status", "n"))


def open_loans_of(*, user: User) -> QuerySet[Loan]:
    return loan_queryset(user=user).filter(Q(status=LoanStatus.OPEN))


# What an irreversible action will touch, counted when the confirmation page is shown -----------


def declaration_lift_summary(*, declaration: Declaration) -> dict[str, int]:
    """Lifting cancels the requests nobody decided yet and makes every loan still out due."""
    return {
        "requests_cancelled": AccessRequest.objects.filter(
            declaration=declaration, status=RequestStatus.SUBMITTED
        ).count(),
        "loans_out": Loan.objects.filter(
            request__declaration=declaration, status__in=Loan.OUT
        ).count(),
    }


def declaration_close_summary(*, declaration: Declaration) -> dict[str, int]:
    """Closing freezes the close report's loans and (in compliance) counts its sites again."""
    return {
        "loans": Loan.objects.filter(request__declaration=declaration)
        .exclude(status=LoanStatus.ABANDONED)
        .count(),
        "sites": declaration.sites.count(),
    }


def loan_lost_summary(*, loan: Loan) -> dict[str, int]:
    """Declaring a loan lost marks its terminal and the cards still lent with it as lost, and
    rotates every account of the terminal."""
    return {
        "cards": loan.cards.filter(status=AccessCard.Status.LENT).count(),
        "accounts": loan.terminal.accounts.exclude(state=AccountState.DELETED).count(),
    }
