"""The dashboard: the inventory at a glance for inventory roles, a short welcome for the others."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from terminals import selectors

# The dashboard lists the first few rule breakers; the full list is one click away.
WARNINGS_SHOWN = 20


@require_GET
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("terminals.view_terminal"):
        return render(request, "core/dashboard.html", {"inventory": False})
    counts = selectors.terminal_counts_by_status(user=request.user)
    breaking = selectors.terminals_breaking_storage_rule(user=request.user)
    return render(
        request,
        "core/dashboard.html",
        {
            "inventory": True,
            "counts": counts,
            "total": sum(count for _status, _label, count in counts),
            "card_total": selectors.access_card_queryset(user=request.user).count(),
            "warning_count": breaking.count(),
            "warnings": [(t, t.storage_warnings()) for t in breaking[:WARNINGS_SHOWN]],
        },
    )
