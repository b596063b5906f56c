"""Reads for stock-takes and discrepancies."""

from django.db.models import QuerySet

from core.models import User
from core.selectors import users_holding

# Whoever may resolve a discrepancy reviews it: an assignment asks them to.
REVIEW_PERMISSION = "compliance.change_discrepancy"


def reviewers() -> QuerySet[User]:
    return users_holding(REVIEW_PERMISSION).order_by("username")
