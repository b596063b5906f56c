"""Lending pages: declarations, requests, the counter (check-out and return), loans, the
borrower's one reveal, and contractor accounts. Each view checks permissions, reads through
lending.selectors (which limit a contractor to their own organization) and writes through
lending.services; a refusal is shown on the form that caused it."""

import secrets

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import services as core_services
from core.errors import ApplicationError, InvalidInput, RuleViolation
from core.filters import sort_columns
from core.identifiers import normalise_identifier
from core.models import Organization
from core.ratelimit import rate_limited
from core.roles import Role
from core.spreadsheets import csv_download
from core.transitions import check_transition
from core.web import apply_service_error, confirmation, confirmed, requires
from credentials.models import AccountState
from credentials.permissions import DECIDES_ROTATIONS
from credentials.reveal import RevealRefused
from lending import selectors, services, supervision
from lending.filters import ALL as LOAN_LIST_ALL
from lending.filters import LISTED_STATUSES, LoanListFilter
from lending.forms import (
    AccessRequestForm,
    CheckoutForm,
    ContractorForm,
    ContractorUserForm,
    DeclarationForm,
    PasswordForm,
    ReasonForm,
    ReturnForm,
    TagForm,
)
from lending.models import (
    AccessRequest,
    Declaration,
    DeclarationStatus,
    Loan,
    LoanStatus,
    RequestStatus,
    acknowledgement_parts,
)
from lending.reports import CloseReportRowSerializer
from terminals.selectors import terminal_queryset

# The counter keeps the last results of each request in the session, newest first.
COUNTER_RESULTS_KEPT = 50
# Readable generated passwords: no 0/O, 1/l/I to misread when they are read out.
READABLE_CHARACTERS = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _due_marks() -> dict:
    now = timezone.now()
    return {"now": now, "soon": now + timezone.timedelta(hours=settings.LENDING_DUE_SOON_HOURS)}


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next", "")
    # Only this site: never a redirect to another host.
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


# Declarations ---------------------------------------------------------------------------------


@require_GET
@requires("lending.view_declaration")
def declaration_list(request: HttpRequest) -> HttpResponse:
    declarations = selectors.declaration_queryset(user=request.user)
    return render(request, "lending/declaration_list.html", {"declarations": declarations})


@require_http_methods(["GET", "POST"])
@requires("lending.view_declaration", "lending.add_declaration")
def declaration_create(request: HttpRequest) -> HttpResponse:
    form = DeclarationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            declaration = services.declaration_declare(
                actor=request.user,
                title=data["title"],
                sites=data["sites"],
                lending_limit=data["lending_limit"],
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(request, _("The declaration was issued."))
            return redirect("lending:declaration", pk=declaration.pk)
    return render(request, "lending/declaration_form.html", {"form": form})


def _declaration_page(
    request: HttpRequest, declaration: Declaration, *, close_refusal=None, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "lending/declaration_detail.html",
        {
            "declaration": declaration,
            "requests": selectors.access_request_queryset(user=request.user).filter(
                declaration=declaration
            ),
            "loans": selectors.loan_queryset(user=request.user).filter(
                request__declaration=declaration
            ),
            "close_refusal": close_refusal,
            **_due_marks(),
        },
        status=status,
    )


def _declaration_or_404(request: HttpRequest, pk: int) -> Declaration:
    return get_object_or_404(selectors.declaration_queryset(user=request.user), pk=pk)


@require_GET
@requires("lending.view_declaration")
def declaration_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _declaration_page(request, _declaration_or_404(request, pk))


def _confirm_lift(request: HttpRequest, declaration: Declaration) -> HttpResponse:
    counts = selectors.declaration_lift_summary(declaration=declaration)
    effects = [
        ngettext(
            "%(n)d access request not yet decided will be cancelled.",
            "%(n)d access requests not yet decided will be cancelled.",
            counts["requests_cancelled"],
        )
        % {"n": counts["requests_cancelled"]},
        ngettext(
            "%(n)d loan is still out: it becomes due within %(h)s hours and must come back.",
            "%(n)d loans are still out: they become due within %(h)s hours and must come back.",
            counts["loans_out"],
        )
        % {"n": counts["loans_out"], "h": settings.LENDING_GRACE_HOURS},
        _("No more terminals can be requested or lent under it."),
    ]
    return confirmation(
        request,
        action=_("lift the declaration “%(title)s”") % {"title": declaration.title},
        effects=effects,
        cancel_url=reverse("lending:declaration", kwargs={"pk": declaration.pk}),
        button=_("Lift the declaration"),
        title=_("Lift the declaration"),
    )


def _confirm_close(request: HttpRequest, declaration: Declaration) -> HttpResponse:
    counts = selectors.declaration_close_summary(declaration=declaration)
    effects = [
        ngettext(
            "The close report is final with its %(n)d loan.",
            "The close report is final with its %(n)d loans.",
            counts["loans"],
        )
        % {"n": counts["loans"]},
        ngettext(
            "A stock-take is opened at its %(n)d site, unless one is open there already.",
            "A stock-take is opened at each of its %(n)d sites that has none open already.",
            counts["sites"],
        )
        % {"n": counts["sites"]},
    ]
    return confirmation(
        request,
        action=_("close the declaration “%(title)s”") % {"title": declaration.title},
        effects=effects,
        cancel_url=reverse("lending:declaration", kwargs={"pk": declaration.pk}),
        button=_("Close the declaration"),
        title=_("Close the declaration"),
    )


@require_POST
@requires("lending.view_declaration", "lending.change_declaration")
def declaration_lift(request: HttpRequest, pk: int) -> HttpResponse:
    declaration = _declaration_or_404(request, pk)
    try:
        if not confirmed(request):
            check_transition(declaration, DeclarationStatus.LIFTED)  # refuse before asking
            return _confirm_lift(request, declaration)
        services.declaration_lift(declaration=declaration, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("The declaration was lifted. Every open loan under it is now due within %(h)s hours.")
            % {"h": settings.LENDING_GRACE_HOURS},
        )
    return redirect("lending:declaration", pk=declaration.pk)


@require_POST
@requires("lending.view_declaration", "lending.change_declaration")
def declaration_close(request: HttpRequest, pk: int) -> HttpResponse:
    declaration = _declaration_or_404(request, pk)
    try:
        if not confirmed(request):
            # What the service would refuse is refused before asking, with the same reasons.
            check_transition(declaration, DeclarationStatus.CLOSED)
            if reasons := selectors.close_blockers(declaration=declaration):
                raise RuleViolation(_("The declaration cannot be closed yet."), reasons=reasons)
            return _confirm_close(request, declaration)
        services.declaration_close(declaration=declaration, actor=request.user)
    except RuleViolation as exc:
        refusal = {"message": exc.message, "reasons": exc.reasons}
        return _declaration_page(request, declaration, close_refusal=refusal, status=409)
    messages.success(request, _("The declaration was closed."))
    return redirect("lending:declaration", pk=declaration.pk)


@require_GET
@requires("lending.view_declaration", "lending.view_returnconfirmation")
def declaration_report(request: HttpRequest, pk: int) -> HttpResponse:
    declaration = _declaration_or_404(request, pk)
    return render(
        request,
        "lending/declaration_report.html",
        {"declaration": declaration, "rows": selectors.close_report(declaration=declaration)},
    )


@require_GET
@requires("lending.view_declaration", "lending.view_returnconfirmation")
def declaration_report_csv(request: HttpRequest, pk: int) -> HttpResponse:
    declaration = _declaration_or_404(request, pk)
    return csv_download(
        CloseReportRowSerializer,
        selectors.close_report(declaration=declaration),
        f"declaration-{declaration.pk}-report.csv",
    )


# Access requests ------------------------------------------------------------------------------


def _request_or_404(request: HttpRequest, pk: int) -> AccessRequest:
    return get_object_or_404(selectors.access_request_queryset(user=request.user), pk=pk)


def _request_url(access_request: AccessRequest) -> str:
    return reverse("lending:request", kwargs={"pk": access_request.pk})


@require_GET
@requires("lending.view_accessrequest")
def request_list(request: HttpRequest) -> HttpResponse:
    requests = selectors.access_request_queryset(user=request.user)
    status = request.GET.get("status", "")
    if status in RequestStatus.values:
        requests = requests.filter(status=status)
    return render(
        request,
        "lending/request_list.html",
        {
            "requests": requests,
            "statuses": RequestStatus.choices,
            "status": status,
            "mine": selectors.sees_only_own_organization(request.user),
        },
    )


@require_http_methods(["GET", "POST"])
@requires("lending.view_accessrequest", "lending.add_accessrequest")
@rate_limited("request-form", "RATE_LIMIT_REQUEST_FORM")
def request_create(request: HttpRequest) -> HttpResponse:
    # Bound on every POST, even an empty one, so that its errors show (never an unbound form).
    form = AccessRequestForm(
        request.POST if request.method == "POST" else None,
        initial={"declaration": request.GET.get("d")},
    )
    if request.method == "POST" and not form.is_valid():
        # One round: the service's rules are checked too, for what the form could read.
        data = form.cleaned_data
        try:
            service_errors = services.access_request_errors(
                actor=request.user,
                declaration=data.get("declaration"),
                work_site=data.get("work_site", ""),
                quantity=data.get("quantity"),
                operators=data.get("operators", "").splitlines(),
                purpose=data.get("purpose", ""),
                needed_until=data.get("needed_until"),
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            for field, field_messages in service_errors.items():
                if field not in form.errors:
                    form.add_error(field, field_messages)
    elif request.method == "POST":
        data = form.cleaned_data
        try:
            access_request = services.access_request_submit(
                actor=request.user,
                declaration=data["declaration"],
                work_site=data["work_site"],
                quantity=data["quantity"],
                operators=form.operator_names(),
                purpose=data["purpose"],
                needed_until=data["needed_until"],
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(
                request,
                _("Your request #%(id)s was submitted. You will be told when it is decided.")
                % {"id": access_request.pk},
            )
            return redirect("lending:request", pk=access_request.pk)
    return render(
        request,
        "lending/request_form.html",
        {"form": form, "has_active": selectors.active_declarations().exists()},
    )


def _may_cancel(request: HttpRequest) -> bool:
    user = request.user
    return user.has_perm("lending.add_accessrequest") or user.has_perm(
        "lending.change_accessrequest"
    )


def _request_page(
    request: HttpRequest, access_request: AccessRequest, *, reject_form=None, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "lending/request_detail.html",
        {
            "req": access_request,
            "loans": selectors.loan_queryset(user=request.user).filter(request=access_request),
            "reject_form": reject_form or ReasonForm(),
            "may_decide": request.user.has_perm("lending.change_accessrequest")
            and access_request.status == RequestStatus.SUBMITTED,
            "may_cancel": _may_cancel(request)
            and access_request.status in (RequestStatus.SUBMITTED, RequestStatus.APPROVED),
            **_due_marks(),
        },
        status=status,
    )


@require_GET
@requires("lending.view_accessrequest")
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _request_page(request, _request_or_404(request, pk))


@require_GET
@requires("lending.view_accessrequest", "lending.change_accessrequest")
def request_queue(request: HttpRequest) -> HttpResponse:
    waiting = (
        selectors.access_request_queryset(user=request.user)
        .filter(status=RequestStatus.SUBMITTED)
        .order_by("submitted_at")
    )
    return render(request, "lending/request_queue.html", {"requests": waiting})


@require_POST
@requires("lending.view_accessrequest", "lending.change_accessrequest")
def request_approve(request: HttpRequest, pk: int) -> HttpResponse:
    access_request = _request_or_404(request, pk)
    try:
        services.access_request_approve(request=access_request, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Request #%(id)s was approved.") % {"id": access_request.pk})
    return redirect(_safe_next(request, _request_url(access_request)))


@require_POST
@requires("lending.view_accessrequest", "lending.change_accessrequest")
def request_reject(request: HttpRequest, pk: int) -> HttpResponse:
    access_request = _request_or_404(request, pk)
    form = ReasonForm(request.POST)
    if form.is_valid():
        try:
            services.access_request_reject(
                request=access_request, actor=request.user, reason=form.cleaned_data["reason"]
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(
                request, _("Request #%(id)s was rejected.") % {"id": access_request.pk}
            )
            return redirect(_safe_next(request, _request_url(access_request)))
    return _request_page(request, access_request, reject_form=form, status=400)


@require_POST
@requires("lending.view_accessrequest")
def request_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    if not _may_cancel(request):
        raise PermissionDenied
    access_request = _request_or_404(request, pk)
    try:
        services.access_request_cancel(request=access_request, actor=request.user)
    except RuleViolation as exc:
        for reason in exc.reasons:
            messages.error(request, reason)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Request #%(id)s was cancelled.") % {"id": access_request.pk})
    return redirect("lending:request", pk=access_request.pk)


# Loans ----------------------------------------------------------------------------------------


def _loan_or_404(request: HttpRequest, pk: int) -> Loan:
    return get_object_or_404(selectors.loan_queryset(user=request.user), pk=pk)


LOAN_LIST_PAGE_SIZE = 50
# (ordering key of LoanListFilter, column heading); None: a column that cannot be sorted.
LOAN_LIST_COLUMNS = [
    ("terminal", capfirst(gettext_lazy("terminal"))),
    ("contractor", capfirst(gettext_lazy("contractor"))),
    ("operator", capfirst(gettext_lazy("operator who received it"))),
    ("checked_out_at", capfirst(gettext_lazy("checked out at"))),
    ("due_at", capfirst(gettext_lazy("due"))),
    ("status", capfirst(gettext_lazy("status"))),
]


@require_GET
@requires("lending.view_loan")
def loan_list(request: HttpRequest) -> HttpResponse:
    """Loans with their status, declaration and contractor filters and the sort in the URL."""
    data = request.GET.copy()
    data.setdefault("status", LoanStatus.OPEN)  # staff come for what is out; "all" for the rest
    mine = selectors.sees_only_own_organization(request.user)
    filterset = LoanListFilter(
        data,
        queryset=selectors.loan_queryset(user=request.user).exclude(status=LoanStatus.ABANDONED),
        declarations=selectors.declaration_queryset(user=request.user),
    )
    if mine:
        del filterset.filters["contractor"]  # their own organization's loans only, anyway
    page = Paginator(filterset.qs, LOAN_LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    columns = [c for c in LOAN_LIST_COLUMNS if not (mine and c[0] == "contractor")]
    return render(
        request,
        "lending/loan_list.html",
        {
            "filter": filterset,
            "page": page,
            "columns": sort_columns(columns, request.GET.get("ordering", "")),
            "statuses": [*LISTED_STATUSES, (LOAN_LIST_ALL, _("All"))],
            "status": data["status"],
            "mine": mine,
            **_due_marks(),
        },
    )


def _loan_page(request: HttpRequest, loan: Loan, *, status: int = 200, **forms) -> HttpResponse:
    reveal_state = selectors.reveal_state(loan)
    return render(
        request,
        "lending/loan_detail.html",
        {
            "loan": loan,
            "cards": loan.cards.order_by("card_number"),
            "confirmation": getattr(loan, "return_confirmation", None),
            "revoke_form": forms.get("revoke_form") or ReasonForm(prefix="revoke"),
            "lost_form": forms.get("lost_form") or ReasonForm(prefix="lost"),
            "may_reveal": selectors.sees_only_own_organization(request.user)
            and request.user.has_perm("lending.reveal_own_loan")
            and loan.status == LoanStatus.OPEN
            and loan.revoked_at is None
            and reveal_state != "shown",
            "reveal_state": reveal_state,
            "approve_reveal_form": forms.get("approve_reveal_form") or ReasonForm(prefix="approve"),
            **_due_marks(),
        },
        status=status,
    )


@require_GET
@requires("lending.view_loan")
def loan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _loan_page(request, _loan_or_404(request, pk))


@require_POST
@requires("lending.view_loan", "lending.revoke_loan")
def loan_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    loan = _loan_or_404(request, pk)
    form = ReasonForm(request.POST, prefix="revoke")
    if form.is_valid():
        try:
            services.loan_revoke(loan=loan, actor=request.user, reason=form.cleaned_data["reason"])
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(
                request,
                _("The loan was revoked: the accounts of %(tag)s are locked and being rotated.")
                % {"tag": loan.terminal.asset_tag},
            )
            return redirect("lending:loan", pk=loan.pk)
    return _loan_page(request, loan, revoke_form=form, status=400)


@require_POST
@requires("lending.view_loan", DECIDES_ROTATIONS)
def loan_approve_reveal(request: HttpRequest, pk: int) -> HttpResponse:
    """Security lets the borrower look once more (the contractor was told to ask)."""
    loan = _loan_or_404(request, pk)
    form = ReasonForm(request.POST, prefix="approve")
    if form.is_valid():
        try:
            services.loan_approve_extra_reveal(
                loan=loan, actor=request.user, reason=form.cleaned_data["reason"]
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(request, _("The borrower may look at the credentials once more."))
            return redirect("lending:loan", pk=loan.pk)
    return _loan_page(request, loan, approve_reveal_form=form, status=400)


@require_POST
@requires("lending.view_loan", "lending.revoke_loan")
def loan_lost(request: HttpRequest, pk: int) -> HttpResponse:
    loan = _loan_or_404(request, pk)
    form = ReasonForm(request.POST, prefix="lost")
    if form.is_valid():
        try:
            if not confirmed(request):
                # Refuse before asking what the service would refuse.
                if not form.cleaned_data["reason"].strip():
                    raise InvalidInput(
                        _("Nothing was recorded."),
                        field_errors={"reason": [_("A reason is required.")]},
                    )
                check_transition(loan, LoanStatus.LOST)
                return _confirm_lost(request, loan)
            services.loan_mark_lost(
                loan=loan, actor=request.user, reason=form.cleaned_data["reason"]
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(
                request,
                _("Terminal %(tag)s was declared lost.") % {"tag": loan.terminal.asset_tag},
            )
            return redirect("lending:loan", pk=loan.pk)
    return _loan_page(request, loan, lost_form=form, status=400)


def _confirm_lost(request: HttpRequest, loan: Loan) -> HttpResponse:
    counts = selectors.loan_lost_summary(loan=loan)
    effects = [
        ngettext(
            "Terminal %(tag)s and %(n)d access card lent with it are recorded as lost.",
            "Terminal %(tag)s and %(n)d access cards lent with it are recorded as lost.",
            counts["cards"],
        )
        % {"tag": loan.terminal.asset_tag, "n": counts["cards"]},
        ngettext(
            "Its %(n)d account is locked and rotated.",
            "Its %(n)d accounts are locked and rotated.",
            counts["accounts"],
        )
        % {"n": counts["accounts"]},
    ]
    return confirmation(
        request,
        action=_("declare terminal %(tag)s lost") % {"tag": loan.terminal.asset_tag},
        effects=effects,
        cancel_url=reverse("lending:loan", kwargs={"pk": loan.pk}),
        button=_("Declare lost"),
        title=_("Declare lost"),
    )


@never_cache
@require_http_methods(["GET", "POST"])
@requires("lending.view_loan", "lending.reveal_own_loan")
@rate_limited("reveal", "RATE_LIMIT_REVEAL")
def loan_credentials(request: HttpRequest, pk: int) -> HttpResponse:
    """The borrower's one look at every account of the loan, after re-entering their password."""
    loan = _loan_or_404(request, pk)
    form = PasswordForm(request.POST or None, user=request.user)
    revealed, refusal = None, None
    if request.method == "POST" and form.is_valid():
        try:
            revealed = services.loan_reveal(loan=loan, actor=request.user)
        except RevealRefused as exc:
            refusal = exc.message
        except ApplicationError as exc:
            apply_service_error(form, exc)
    return render(
        request,
        "lending/loan_credentials.html",
        {
            "loan": loan,
            "form": PasswordForm(user=request.user) if revealed or refusal else form,
            "revealed": revealed,
            "refusal": refusal,
            "accounts": loan.terminal.accounts.exclude(state=AccountState.DELETED).select_related(
                "target_system"
            ),
        },
    )


# The counter: check-out -----------------------------------------------------------------------


def _counter_key(access_request: AccessRequest) -> str:
    return f"counter-results-{access_request.pk}"


def _hand_out(request: HttpRequest, access_request: AccessRequest, form: CheckoutForm):
    """One scan: the result to list, or None when the form itself has errors to show."""
    # Named as the inventory spells it, however it was typed (ｎｗ－０００１ is NW-0001).
    tag = normalise_identifier(form.cleaned_data["tag"])
    terminal = terminal_queryset(user=request.user).filter(asset_tag=tag).first()
    if terminal is None:
        return {
            "tag": tag,
            "ok": False,
            "message": _("Terminal %(tag)s cannot be handed out.") % {"tag": tag},
            "reasons": [_("No terminal has the asset tag %(tag)s.") % {"tag": tag}],
        }
    try:
        loan = services.loan_checkout(
            request=access_request,
            terminal=terminal,
            actor=request.user,
            operator_name=form.cleaned_data["operator_name"],
            acknowledged_name=form.cleaned_data["acknowledged_name"],
            operator_reason=form.cleaned_data["operator_reason"],
        )
    except InvalidInput as exc:
        apply_service_error(form, exc)
        return None
    except RuleViolation as exc:
        return {"tag": tag, "ok": False, "message": exc.message, "reasons": exc.reasons}
    cards = [card.card_number for card in loan.cards.order_by("card_number")]
    return {
        "tag": tag,
        "ok": True,
        "loan": loan.pk,
        "message": _("Terminal %(tag)s was handed out.") % {"tag": tag},
        "reasons": [_("With access cards: %(cards)s") % {"cards": ", ".join(cards)}]
        if cards
        else [],
    }


@require_http_methods(["GET", "POST"])
@requires("lending.view_loan", "lending.add_loan", "terminals.view_terminal")
def checkout(request: HttpRequest) -> HttpResponse:
    """The counter: choose an approved request, then scan (or type) each terminal's tag."""
    approved = (
        selectors.access_request_queryset(user=request.user)
        .filter(status=RequestStatus.APPROVED, declaration__status=DeclarationStatus.ACTIVE)
        .order_by("decided_at")
    )
    chosen_pk = (request.POST.get("request") or request.GET.get("request") or "").strip()
    if not chosen_pk:
        return render(request, "lending/checkout.html", {"approved": approved, "chosen": None})
    if not chosen_pk.isdecimal():  # a number typed by hand, or a link someone edited
        raise Http404
    chosen = _request_or_404(request, int(chosen_pk))
    results = request.session.get(_counter_key(chosen), [])
    form = CheckoutForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = _hand_out(request, chosen, form)
        if result is not None:
            results = [result, *results][:COUNTER_RESULTS_KEPT]
            request.session[_counter_key(chosen)] = results
            # The same operator usually receives several terminals: keep their name and
            # signature, empty the tag field for the next scan.
            form = CheckoutForm(
                initial={
                    "operator_name": form.cleaned_data["operator_name"],
                    "acknowledged_name": form.cleaned_data["acknowledged_name"],
                }
            )
    chosen.refresh_from_db()
    signed = bool(form["operator_name"].value() and form["acknowledged_name"].value())
    # A keyboard-wedge scanner types into whatever has the focus: the tag field, once signed.
    form.fields["tag" if signed else "operator_name"].widget.attrs["autofocus"] = True
    return render(
        request,
        "lending/checkout.html",
        {
            "approved": approved,
            "chosen": chosen,
            "form": form,
            "results": results,
            "handed_out": selectors.loans_out_count(chosen),
            "acknowledgement": acknowledgement_parts(services.ACKNOWLEDGEMENT),
            # Contractor supervision: what will refuse a hand-out, before the first scan.
            "supervision_refusals": supervision.request_refusals(request=chosen),
        },
    )


# The counter: return --------------------------------------------------------------------------


@require_GET
@requires("lending.view_loan", "lending.change_loan")
def return_scan(request: HttpRequest) -> HttpResponse:
    """Scan the tag of a terminal being handed back: it opens the return form of its loan."""
    form = TagForm(request.GET or None)
    open_loans = selectors.loan_queryset(user=request.user).filter(status=LoanStatus.OPEN)
    if form.is_bound and form.is_valid():
        tag = form.cleaned_data["tag"].strip()
        loan = open_loans.filter(terminal__asset_tag=normalise_identifier(tag)).first()
        if loan is not None:
            return redirect("lending:return", pk=loan.pk)
        form.add_error("tag", _("Terminal %(tag)s has no open loan.") % {"tag": tag})
    return render(
        request,
        "lending/return_scan.html",
        {"form": form, "open_loans": open_loans.order_by("due_at"), **_due_marks()},
    )


@require_http_methods(["GET", "POST"])
@requires("lending.view_loan", "lending.change_loan")
def loan_return(request: HttpRequest, pk: int) -> HttpResponse:
    loan = _loan_or_404(request, pk)
    if loan.status != LoanStatus.OPEN:
        messages.error(request, _("This loan is not open: there is nothing to receive."))
        return redirect("lending:loan", pk=loan.pk)
    form = ReturnForm(request.POST or None, loan=loan)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.loan_return(
                loan=loan,
                actor=request.user,
                condition=data["condition"],
                cards_returned=data["cards_returned"],
                return_location=data["return_location"],
                handed_back_by=data["handed_back_by"],
                operator_signature=data["operator_signature"],
                data_disposition=data["data_disposition"],
                notes=data["notes"],
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(
                request,
                _(
                    "Terminal %(tag)s was received back. Its accounts get new login IDs and "
                    "passwords before it can be lent again."
                )
                % {"tag": loan.terminal.asset_tag},
            )
            return redirect("lending:returns")
    return render(
        request,
        "lending/return_form.html",
        {"loan": loan, "form": form, **_due_marks()},
    )


# Contractors ----------------------------------------------------------------------------------


def _contractors():
    return Organization.objects.filter(kind=Organization.Kind.CONTRACTOR).order_by("name")


@require_GET
@requires("core.view_organization", "core.view_user")
def contractor_list(request: HttpRequest) -> HttpResponse:
    organizations = _contractors().prefetch_related("users")
    return render(request, "lending/contractor_list.html", {"organizations": organizations})


@require_http_methods(["GET", "POST"])
@requires("core.view_organization", "core.add_organization")
def contractor_create(request: HttpRequest) -> HttpResponse:
    form = ContractorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            organization = core_services.organization_create(
                actor=request.user,
                code=form.cleaned_data["code"],
                name=form.cleaned_data["name"],
                kind=Organization.Kind.CONTRACTOR,
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(
                request, _("Contractor %(name)s was added.") % {"name": organization.name}
            )
            return redirect("lending:contractors")
    return render(
        request,
        "lending/contractor_form.html",
        {"form": form, "title": _("Add a contractor")},
    )


def _initial_password() -> str:
    return "-".join(
        "".join(secrets.choice(READABLE_CHARACTERS) for _ in range(4)) for _group in range(4)
    )


@never_cache
@require_http_methods(["GET", "POST"])
@requires("core.view_organization", "core.add_user")
def contractor_user_create(request: HttpRequest, code: str) -> HttpResponse:
    organization = get_object_or_404(_contractors(), code=code)
    form = ContractorUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        password = _initial_password()
        try:
            user = core_services.user_create(
                actor=request.user,
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                role=Role.CONTRACTOR,
                password=password,
                organization=organization,
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            # Shown on this response only: it is stored as a hash and cannot be shown again.
            return render(
                request,
                "lending/contractor_user_created.html",
                {"organization": organization, "new_user": user, "password": password},
            )
    return render(
        request,
        "lending/contractor_form.html",
        {
            "form": form,
            "organization": organization,
            "title": _("Add a user to %(name)s") % {"name": organization.name},
        },
    )
