"""Reads of the inventory: what a user may see, and the figures pages show."""

import datetime
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Count, Q, QuerySet
from django.utils.text import capfirst

from core.audit import events_about
from core.identifiers import normalise_code
from core.models import Organization, User
from terminals import hooks
from terminals.models import AccessCard, Location, Movement, Terminal

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


def custody_rule_breaches(queryset: QuerySet[Terminal]) -> QuerySet[Terminal]:
    """Not lent (nor lost or retired), yet kept by a company other than a network operator,
    wherever it stands: a retail company's terminal in the operator's own store included."""
    return queryset.exclude(status__in=Terminal.AWAY_STATUSES).exclude(
        custodian__kind=Organization.Kind.NETWORK_OPERATOR
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


@dataclass(frozen=True)
class FieldChange:
    label: str  # the field's verbose name, in the reader's language
    old: str
    new: str


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a terminal's history: a movement (place or status), or an edit of what
    describes it (`changes`, from the audit event terminal_update wrote)."""

    occurred_at: datetime.datetime
    actor: User | None
    movement: Movement | None = None
    changes: list[FieldChange] = field(default_factory=list)


# Events written before the custodian was recorded by code carry its primary key.
_EDIT_FIELD_NAMES = {"custodian_id": "custodian"}


def _edit_changes(details: dict, organizations: dict[str, str]) -> list[FieldChange]:
    changes = []
    for key, values in details.items():
        name = _EDIT_FIELD_NAMES.get(key, key)
        try:
            model_field = Terminal._meta.get_field(name)
        except FieldDoesNotExist:
            model_field = None
        verbose_name = getattr(model_field, "verbose_name", None) or name
        label = str(capfirst(verbose_name))
        old, new = values if isinstance(values, list) and len(values) == 2 else (None, values)
        if name == "custodian":
            # An edit recorded before codes took their one form (core.0010) names it as typed.
            old, new = (organizations.get(normalise_code(str(v)), v) for v in (old, new))
        changes.append(FieldChange(label, "" if old is None else str(old), str(new or "")))
    return changes


def terminal_timeline(*, terminal: Terminal) -> list[HistoryEntry]:
    """The terminal's movements and the edits of its description, newest first."""
    entries = [
        HistoryEntry(occurred_at=m.occurred_at, actor=m.actor, movement=m)
        for m in terminal_history(terminal=terminal)
    ]
    edits = list(events_about(terminal).filter(action="terminal.updated").select_related("actor"))
    organizations: dict[str, str] = {}
    if any("custodian" in e.details or "custodian_id" in e.details for e in edits):
        for pk, code, name in Organization.objects.values_list("pk", "code", "name"):
            organizations[code] = organizations[str(pk)] = name
    entries += [
        HistoryEntry(
            occurred_at=e.occurred_at,
            actor=e.actor,
            changes=_edit_changes(e.details, organizations),
        )
        for e in edits
    ]
    # Stable: at the same instant, movements keep their own order ahead of edits.
    return sorted(entries, key=lambda entry: entry.occurred_at, reverse=True)


def terminal_loan_holds(*, terminal: Terminal) -> list[str]:
    """Why the terminal's status can be changed only through its loan now (empty: it can by
    hand), for the status page to say so."""
    if terminal.status not in (Terminal.Status.RESERVED, Terminal.Status.LENT):
        return []
    return hooks.loan_holds(terminal)


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
