"""Reads for stock-takes and discrepancies."""

from django.db.models import QuerySet

from compliance.models import Discrepancy, StockTake
from core.models import User
from core.selectors import users_holding

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
        "loan",
        "assignee",
        "resolved_by",
    )
    return qs if user.has_perm("compliance.view_discrepancy") else qs.none()
