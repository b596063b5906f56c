"""The dashboard: first what waits for the signed-in user (one panel per task their role may
do, with a count and a link to the list where it is done), then the inventory at a glance for
inventory roles and what is happening in lending (overdue loans for staff; a contractor's own
requests and loans)."""

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET

from compliance import selectors as compliance
from compliance.models import Discrepancy, StockTakeStatus
from core.audit import latest_chain_check, unsealed_backlog
from core.models import User
from lending import arrangements
from lending import selectors as lending
from lending.models import DeclarationStatus, RequestStatus
from portal import selectors as waiting
from terminals import selectors

# The dashboard lists the first few rule breakers; the full list is one click away.
WARNINGS_SHOWN = 20


@dataclass(frozen=True)
class Panel:
    """One task waiting for the user: how many, a word on the urgent part, where to do it."""

    key: str
    title: str
    count: int
    url: str
    link_label: str
    notes: list[str] = field(default_factory=list)
    urgent: bool = False


def _overdue_notes(due: waiting.DueCount) -> list[str]:
    notes = []
    if due.overdue:
        notes.append(
            ngettext("%(count)s is overdue.", "%(count)s are overdue.", due.overdue)
            % {"count": due.overdue}
        )
    if due.due_soon:
        notes.append(
            ngettext(
                "%(count)s is due within %(hours)s hours.",
                "%(count)s are due within %(hours)s hours.",
                due.due_soon,
            )
            % {"count": due.due_soon, "hours": settings.LENDING_DUE_SOON_HOURS}
        )
    return notes


def _staff_panels(user: User, now: datetime) -> list[Panel]:
    panels = []
    if user.has_perm("lending.view_accessrequest") and user.has_perm(
        "lending.change_accessrequest"
    ):
        panels.append(
            Panel(
                "approve",
                _("Access requests to approve"),
                waiting.requests_to_approve(user=user),
                reverse("lending:request-queue"),
                _("Request queue"),
            )
        )
    if user.has_perm("lending.add_loan"):
        requests, terminals = waiting.requests_to_hand_out(user=user)
        notes = []
        if terminals:
            notes.append(
                ngettext(
                    "%(count)s terminal to hand out.", "%(count)s terminals to hand out.", terminals
                )
                % {"count": terminals}
            )
        panels.append(
            Panel(
                "hand-out",
                _("Approved requests to hand out"),
                requests,
                reverse("lending:checkout"),
                _("Check-out"),
                notes,
            )
        )
    if user.has_perm("lending.change_loan"):
        due = waiting.loans_to_receive(user=user, now=now)
        panels.append(
            Panel(
                "returns",
                _("Returns to receive"),
                due.total,
                reverse("lending:returns"),
                _("Return"),
                _overdue_notes(due),
                urgent=bool(due.overdue),
            )
        )
    if user.has_perm("lending.change_arrangement"):
        awaiting = arrangements.arrangements_awaiting_approval(user=user)
        panels.append(
            Panel(
                "arrangements",
                _("Arrangements to approve"),
                awaiting["arrangements"] + awaiting["extensions"],
                reverse("lending:arrangements"),
                _("Arrangements"),
                [
                    ngettext(
                        "%(count)s extension waits for approval.",
                        "%(count)s extensions wait for approval.",
                        awaiting["extensions"],
                    )
                    % {"count": awaiting["extensions"]}
                ]
                if awaiting["extensions"]
                else [],
            )
        )
    if user.has_perm("credentials.view_rotation") and user.has_perm("credentials.add_rotation"):
        failed = waiting.failed_rotations(user=user)
        panels.append(
            Panel(
                "rotations",
                _("Failed rotations"),
                failed,
                reverse("credentials:rotations"),
                _("Rotations"),
                [_("Their terminals cannot be lent until a rotation succeeds.")] if failed else [],
                urgent=bool(failed),
            )
        )
    if user.has_perm("compliance.view_discrepancy") and user.has_perm(
        "compliance.change_discrepancy"
    ):
        unassigned = waiting.findings_unassigned(user=user)
        panels.append(
            Panel(
                "findings",
                _("Findings assigned to you"),
                waiting.findings_assigned_to(user=user),
                f"{reverse('compliance:discrepancy_list')}?assignee={user.pk}",
                _("Discrepancies"),
                [
                    ngettext(
                        "%(count)s open finding is not assigned to anyone.",
                        "%(count)s open findings are not assigned to anyone.",
                        unassigned,
                    )
                    % {"count": unassigned}
                ]
                if unassigned
                else [],
            )
        )
    scans = user.has_perm("compliance.add_scan")
    if user.has_perm("compliance.view_stocktake") and (
        scans or user.has_perm("compliance.change_stocktake")
    ):
        due = waiting.open_stocktakes(user=user, now=now)
        notes = []
        if due.overdue:
            notes.append(
                ngettext(
                    "%(count)s is past its due date.",
                    "%(count)s are past their due date.",
                    due.overdue,
                )
                % {"count": due.overdue}
            )
        panels.append(
            Panel(
                "stocktakes",
                _("Stock-takes to scan") if scans else _("Stock-takes to close"),
                due.total,
                f"{reverse('compliance:stocktake_list')}?status={StockTakeStatus.OPEN}",
                _("Stock-takes"),
                notes,
                urgent=bool(due.overdue),
            )
        )
    return panels


def _contractor_panels(user: User, now: datetime) -> list[Panel]:
    panels = []
    if user.has_perm("lending.view_accessrequest"):
        counts = waiting.own_open_requests(user=user)
        notes = []
        if counts[RequestStatus.SUBMITTED]:
            notes.append(
                ngettext(
                    "%(count)s waits for approval.",
                    "%(count)s wait for approval.",
                    counts[RequestStatus.SUBMITTED],
                )
                % {"count": counts[RequestStatus.SUBMITTED]}
            )
        if counts[RequestStatus.APPROVED]:
            notes.append(
                ngettext(
                    "%(count)s is approved: collect the terminals at the counter.",
                    "%(count)s are approved: collect the terminals at the counter.",
                    counts[RequestStatus.APPROVED],
                )
                % {"count": counts[RequestStatus.APPROVED]}
            )
        panels.append(
            Panel(
                "my-requests",
                _("My open requests"),
                sum(counts.values()),
                reverse("lending:requests"),
                _("My requests"),
                notes,
            )
        )
    if user.has_perm("lending.view_loan"):
        due = waiting.own_open_loans(user=user, now=now)
        panels.append(
            Panel(
                "my-loans",
                _("My loans"),
                due.total,
                reverse("lending:loans"),
                _("My loans"),
                _overdue_notes(due),
                urgent=bool(due.overdue),
            )
        )
    return panels


def _waiting(user: User) -> dict:
    """The panels of what waits for this user; none for a role with nothing to do (auditors)."""
    now = timezone.now()
    if user.has_perm("lending.view_declaration") and lending.sees_only_own_organization(user):
        return {"panels": _contractor_panels(user, now)}
    return {"panels": _staff_panels(user, now)}


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
    if user.has_perm("lending.view_arrangement"):
        context["arrangements_ending"] = [
            (arrangement, arrangements.days_left(arrangement, now))
            for arrangement in arrangements.arrangements_ending_soon(user=user, now=now)
        ]
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


def _audit(user: User) -> dict:
    """For those who read the audit trail: the events still waiting for the sealer, and the
    chain's last check when it found the chain broken."""
    if not user.has_perm("core.view_auditevent"):
        return {}
    check = latest_chain_check()
    return {
        "audit_backlog": unsealed_backlog(),
        "audit_alert_seconds": settings.AUDIT_UNSEALED_ALERT_SECONDS,
        "audit_chain_broken": check if check and check.broken else None,
    }


@require_GET
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    context = {
        **_waiting(request.user),
        **_inventory(request.user),
        **_lending(request.user),
        **_stocktakes(request.user),
        **_audit(request.user),
    }
    return render(request, "portal/dashboard.html", context)
