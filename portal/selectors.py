"""Reads for the dashboard: what waits for the signed-in user, counted through each app's own
selectors, so that a user counts only what they may see (a contractor their organization's)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, F, Q

from compliance import selectors as compliance
from compliance.models import Discrepancy, StockTakeStatus
from core.models import User
from credentials import selectors as credentials
from credentials.models import RotationStatus
from lending import selectors as lending
from lending.models import DeclarationStatus, LoanStatus, RequestStatus


@dataclass(frozen=True)
class DueCount:
    """Open items of which some are past their due time and some come due soon."""

    total: int
    overdue: int = 0
    due_soon: int = 0


def requests_to_approve(*, user: User) -> int:
    return lending.access_request_queryset(user=user).filter(status=RequestStatus.SUBMITTED).count()


def requests_to_hand_out(*, user: User) -> tuple[int, int]:
    """Approved requests under an active declaration that still wait for terminals (the
    counter's list), and how many terminals they wait for."""
    rows = (
        lending.access_request_queryset(user=user)
        .filter(status=RequestStatus.APPROVED, declaration__status=DeclarationStatus.ACTIVE)
        .annotate(out=Count("loans", filter=~Q(loans__status=LoanStatus.ABANDONED)))
        .filter(out__lt=F("quantity"))
        .values_list("quantity", "out")
    )
    return len(rows), sum(quantity - out for quantity, out in rows)


def _due_soon_horizon(now: datetime) -> datetime:
    return now + timedelta(hours=settings.LENDING_DUE_SOON_HOURS)


def loans_to_receive(*, user: User, now: datetime) -> DueCount:
    """Open loans overdue or due soon: the terminals the counter should see coming back."""
    loans = lending.loan_queryset(user=user).filter(
        status=LoanStatus.OPEN, due_at__lt=_due_soon_horizon(now)
    )
    overdue = loans.filter(due_at__lt=now).count()
    total = loans.count()
    return DueCount(total=total, overdue=overdue, due_soon=total - overdue)


def own_open_loans(*, user: User, now: datetime) -> DueCount:
    loans = lending.open_loans_of(user=user)
    return DueCount(
        total=loans.count(),
        overdue=loans.filter(due_at__lt=now).count(),
        due_soon=loans.filter(due_at__gte=now, due_at__lt=_due_soon_horizon(now)).count(),
    )


def own_open_requests(*, user: User) -> dict[str, int]:
    """The user's organization's requests still under way, by status (submitted, approved)."""
    counts = lending.request_counts(user=user)
    return {
        status: counts.get(status, 0)
        for status in (RequestStatus.SUBMITTED, RequestStatus.APPROVED)
    }


def failed_rotations(*, user: User) -> int:
    return credentials.rotation_queue(user=user).filter(status=RotationStatus.FAILED).count()


def findings_assigned_to(*, user: User) -> int:
    return (
        compliance.discrepancy_queryset(user=user)
        .filter(assignee=user, status=Discrepancy.Status.OPEN)
        .count()
    )


def findings_unassigned(*, user: User) -> int:
    return (
        compliance.discrepancy_queryset(user=user)
        .filter(assignee__isnull=True, status=Discrepancy.Status.OPEN)
        .count()
    )


def open_stocktakes(*, user: User, now: datetime) -> DueCount:
    stocktakes = compliance.stocktake_queryset(user=user).filter(status=StockTakeStatus.OPEN)
    return DueCount(total=stocktakes.count(), overdue=stocktakes.filter(due_at__lt=now).count())
