"""Reads of the inventory: what a user may see, and the figures pages show."""

from collections import Counter
from typing import TYPE_CHECKING

from django.db.models import Count, Q, QuerySet

from core.models import Organization, User
from terminals.models import AccessCard, Location, Terminal

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


def terminal_queryset(*, user: User) -> QuerySet[Terminal]:
    """Terminals a user may see: every inventory role sees all; anyone else sees none."""
    qs = Terminal.objects.select_related("location", "location__custodian", "custodian")
    return qs if user.has_perm("terminals.view_terminal") else qs.none()


def storage_rule_breaches(queryset: QuerySet[Terminal]) -> QuerySet[Terminal]:
    """Not lent (nor lost or retired), yet not at a secured location of a network operator."""
    return queryset.exclude(status__in=Terminal.AWAY_STATUSES).filter(
        Q(location__secured=False)
        | ~Q(location__custodian__kind=Organization.Kind.NETWORK_OPERATOR)
    )


def terminals_breaking_storage_rule(*, user: User) -> QuerySet[Terminal]:
    return storage_rule_breaches(terminal_queryset(user=user))


def terminal_counts_by_status(*, user: User) -> "list[tuple[str, StrOrPromise, int]]":
    """(status, label, count) for every status, zeros included, in the lifecycle's order."""
    counts = dict(
        terminal_queryset(user=user)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return [(s.value, s.label, counts.get(s.value, 0)) for s in Terminal.Status]


def terminal_history(*, terminal: Terminal):
    return terminal.movements.select_related("actor", "from_location", "to_location").order_by(
        "-occurred_at", "-id"
    )


def location_tree(*, user: User) -> list[tuple[Location, int, int]]:
    """Each location in tree order with (own terminal count, count including its subtree)."""
    locations = list(Location.objects.select_related("custodian").order_by("path"))
    own = Counter(
        dict(
            terminal_queryset(user=user)
            .order_by()
            .values_list("location")
            .annotate(n=Count("id"))
            .values_list("location", "n")
        )
    )
    total: Counter[int] = Counter()
    for location in locations:
        for ancestor_pk in location.path.strip("/").split("/"):
            total[int(ancestor_pk)] += own[location.pk]
    return [(location, own[location.pk], total[location.pk]) for location in locations]


def access_card_queryset(*, user: User) -> QuerySet[AccessCard]:
    qs = AccessCard.objects.select_related("location", "terminal")
    return qs if user.has_perm("terminals.view_accesscard") else qs.none()
