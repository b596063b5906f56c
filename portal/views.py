"""The dashboard: the inventory at a glance for inventory roles, what is happening in lending
(overdue loans for staff; a contractor's own requests and loans), a short welcome otherwise."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from compliance import selectors as compliance
from compliance.models import Discrepancy, StockTakeStatus
from core.models import User
from lending import selectors as lending
from lending.models import DeclarationStatus, RequestStatus
from terminals import selectors

# The dashboard lists the first few rule breakers; the full list is one click away.
WARNINGS_SHOWN = 20


def _inventory(user: User) -> dict:
    if not user.has_perm("terminals.view_terminal"):
        return {"inventory": False}
    counts = selectors.terminal_counts_by_status(user=user)
    breaking = selectors.terminals_breaking_storage_rule(user=user)
    return {
        "inventory": True,
        "counts": counts,
        "total": sum(count for _status, _label, count in counts),
        "card_total": selectors.access_card_queryset(user=user).count(),
        "warning_count": breaking.count(),
        "warnings": [(t, t.storage_warnings()) for t in breaking[:WARNINGS_SHOWN]],
    }


def _lending(user: User) -> dict:
    if not user.has_perm("lending.view_declaration"):
        return {"lending": False}
    now = timezone.now()
    context = {
        "lending": True,
        "now": now,
        "soon": now + timezone.timedelta(hours=settings.LENDING_DUE_SOON_HOURS),
        "active_declarations": lending.declaration_queryset(user=user).filter(
            status=DeclarationStatus.ACTIVE
        ),
    }
    if lending.sees_only_own_organization(user):
        context["my_requests"] = lending.access_request_queryset(user=user).filter(
            status__in=[RequestStatus.SUBMITTED, RequestStatus.APPROVED]
        )
        context["my_loans"] = lending.open_loans_of(user=user).order_by("due_at")
    elif user.has_perm("lending.view_loan"):
        context["overdue"] = (
            lending.loan_queryset(user=user)
            .filter(pk__in=lending.overdue_loans().values("pk"))
            .order_by("due_at")
        )
    return context


def _stocktakes(user: User) -> dict:
    """Open stock-takes (overdue ones first to catch the eye) and how many differences wait."""
    context = {}
    if user.has_perm("compliance.view_stocktake"):
        context["open_stocktakes"] = (
            compliance.stocktake_queryset(user=user)
            .filter(status=StockTakeStatus.OPEN)
            .order_by("due_at")
        )
        context["now"] = timezone.now()
    if user.has_perm("compliance.view_discrepancy"):
        context["open_discrepancies"] = (
            compliance.discrepancy_queryset(user=user)
            .filter(status=Discrepancy.Status.OPEN)
            .count()
        )
    return context


@require_GET
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    context = {**_inventory(request.user), **_lending(request.user), **_stocktakes(request.user)}
    return render(request, "portal/dashboard.html", context)
