"""Reads for stock-takes and discrepancies."""

from django.db.models import QuerySet
from django.urls import reverse

from compliance.models import Discrepancy, StockTake
from core.models import User
from core.selectors import users_holding
from terminals.models import AccessCard

# Whoever may resolve a discrepancy reviews it: an assignment asks them to.
REVIEW_PERMISSION = "compliance.change_discrepancy"


def reviewers() -> QuerySet[User]:
    return users_holding(REVIEW_PERMISSION).order_by("username")


# What each user may see, decided here for pages, API and dashboard alike (an empty queryset,
# never an error, for someone without the permission).


def stocktake_queryset(*, user: User) -> QuerySet[StockTake]:
    qs = StockTake.objects.select_related("site", "opened_by", "closed_by")
    return qs if user.has_perm("compliance.view_stocktake") else qs.none()


def discrepancy_queryset(*, user: User) -> QuerySet[Discrepancy]:
    qs = Discrepancy.objects.select_related(
        "stocktake__site",
        "location__site",
        "terminal__location__site",
        "access_card",
        "account__target_system",
        "loan__request__contractor",
        "sign_in__target_system",
        "sign_in__ingestion",
        "assignee",
        "resolved_by",
    )
    return qs if user.has_perm("compliance.view_discrepancy") else qs.none()


def card_finding_url(card: AccessCard) -> str:
    """Where a card that did not come back is dealt with: its open finding, if there is one."""
    finding = (
        Discrepancy.objects.filter(
            access_card=card,
            kind=Discrepancy.Kind.CARD_NOT_RETURNED,
            status=Discrepancy.Status.OPEN,
        )
        .order_by("-opened_at")
        .values_list("pk", flat=True)
        .first()
    )
    return reverse("compliance:discrepancy_detail", args=[finding]) if finding else ""


def discrepancy_resolve_summary(*, discrepancy: Discrepancy) -> dict[str, int]:
    """What an irreversible resolution (lost or stolen, written off, orphan deleted) reaches
    besides the finding, for its confirmation page: the accounts of its terminal, which are
    rotated (lost) or deleted on their targets (written off, as retired terminals keep none)."""
    terminal = discrepancy.terminal
    return {
        "accounts": terminal.accounts.exclude(state="deleted").count() if terminal else 0,
    }
