"""Writing and verifying the append-only, hash-chained audit trail."""

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.apps import apps
from django.db import connection, models
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.text import capfirst
from django.utils.translation import gettext, gettext_lazy

from core.models import AuditEvent, User
from core.sealer import (  # noqa: F401  (the trail's API is here, the machinery in core.sealer)
    GENESIS_HASH,
    Backlog,
    ChainBreak,
    chain_check,
    latest_chain_check,
    seal_pending,
    unsealed_backlog,
    verify_chain,
)

StrOrPromise = str | Promise


def object_ref(obj: models.Model) -> tuple[str, str]:
    return obj._meta.label_lower, str(obj.pk)


def object_type_spellings(object_type: str) -> list[str]:
    """Every object type an event about this kind of object may carry. A model that moved to
    another app lists its former labels in `FORMER_AUDIT_LABELS`: the events written before the
    move keep them, since the chain's hashes cover them."""
    object_type = object_type.strip().lower()
    for model in apps.get_models():
        former = tuple(getattr(model, "FORMER_AUDIT_LABELS", ()))
        if object_type == model._meta.label_lower or object_type in former:
            return [model._meta.label_lower, *former]
    return [object_type]


def events_about(obj: models.Model) -> models.QuerySet[AuditEvent]:
    object_type, object_id = object_ref(obj)
    return AuditEvent.objects.filter(
        object_type__in=object_type_spellings(object_type), object_id=object_id
    )


def record_event(
    *,
    actor: User | None,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    details: dict[str, Any] | None = None,
) -> int:
    """Append one event in the caller's transaction and return its id. Never put a secret into
    `details`.

    One INSERT, with no lock and no read of the chain: the sealer (core.sealer) gives the event
    its seal (`seq`, `prev_hash`, `hash`) once its transaction committed."""
    if obj is not None:
        object_type, object_id = object_ref(obj)
    actor_id, actor_username = (
        (actor.pk, actor.get_username())
        if actor is not None and actor.pk is not None
        else (None, "system")
    )
    # No model instance: this runs inside every writer's transaction, and building one costs
    # about as much as the INSERT's own Python.
    return _insert(
        [timezone.now(), actor_id, actor_username, action, object_type, object_id, details or {}]
    )


def record_events(
    *, actor: User | None, events: Sequence[tuple[str, models.Model, Mapping[str, Any]]]
) -> list[AuditEvent]:
    """Append several events of one actor in one INSERT, in the caller's transaction: one per
    (action, object, details), in the order given. For a write that touches many things at once
    (every account of a terminal at a check-out, every rotation a return requests), so that its
    statements do not grow with their number. Sealed as record_event's are."""
    now = timezone.now()
    rows = []
    for action, obj, details in events:
        object_type, object_id = object_ref(obj)
        rows.append(
            AuditEvent(
                occurred_at=now,
                actor=actor if actor is not None and actor.pk else None,
                actor_username=actor.get_username() if actor is not None and actor.pk else "system",
                action=action,
                object_type=object_type,
                object_id=object_id,
                details=dict(details),
            )
        )
    # bulk_create, not save(): the append-only guard is on save() and delete().
    return AuditEvent.objects.bulk_create(rows) if rows else rows


_INSERT_COLUMNS = (
    "occurred_at",
    "actor_id",
    "actor_username",
    "action",
    "object_type",
    "object_id",
    "details",
)


def _insert(row: list) -> int:
    """The event's INSERT (the values of _INSERT_COLUMNS, in order), written out: the same row
    Model.save would write, without building the query each time."""
    occurred_at, *middle, details = row
    params = [connection.ops.adapt_datetimefield_value(occurred_at), *middle, json.dumps(details)]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(connection.vendor), params)
        return cursor.fetchone()[0]


@functools.cache
def _insert_sql(vendor: str) -> str:
    details = "%s::jsonb" if vendor == "postgresql" else "%s"
    return (
        f"INSERT INTO {connection.ops.quote_name(AuditEvent._meta.db_table)} "  # noqa: S608
        f"({', '.join(_INSERT_COLUMNS)}) VALUES (%s, %s, %s, %s, %s, %s, {details}) "
        "RETURNING id"  # PostgreSQL and SQLite (3.35 and later) both have it
    )


# Showing events in words ----------------------------------------------------------------------
# The trail stores machine codes (`access_card.lent`, `from_status: in_storage`): the API returns
# them as they are, pages show them in words. Each app registers the words for its own actions,
# detail keys and coded values from its AppConfig.ready() (core imports no app); an action, key
# or value nobody registered is shown as stored.

ValueFormatter = Callable[[Any], str]

_action_labels: dict[str, StrOrPromise] = {}
_detail_labels: dict[str, StrOrPromise] = {}
# (action family, detail key) -> choices or a formatter; family "" is for every action.
_detail_values: dict[tuple[str, str], dict[str, StrOrPromise] | ValueFormatter] = {}

CHAIN_BREAK_REASONS: dict[str, StrOrPromise] = {
    "event missing from the sequence": gettext_lazy("an event is missing from the sequence"),
    "previous hash does not match": gettext_lazy("the previous hash does not match"),
    "content does not match its hash": gettext_lazy("the content does not match its hash"),
    "checkpoint signature is not valid": gettext_lazy("a checkpoint's signature is not valid"),
    "checkpoint signed with an unknown key": gettext_lazy(
        "a checkpoint is signed with an unknown key"
    ),
    "checkpoint does not match the chain": gettext_lazy(
        "a signed checkpoint does not match the chain"
    ),
    "witnessed checkpoint does not match the chain": gettext_lazy(
        "a checkpoint held by the witness does not match the chain: history was rewritten"
    ),
}


def register_action_labels(labels: Mapping[str, StrOrPromise]) -> None:
    """`{"access_card.lent": _("Access card lent"), ...}`: what each action reads as."""
    _action_labels.update(labels)


def register_detail_labels(labels: Mapping[str, StrOrPromise]) -> None:
    """`{"from_status": _("from status"), ...}`: what each key of `details` reads as."""
    _detail_labels.update(labels)


def register_detail_values(
    key: str,
    values: Iterable[tuple[str, StrOrPromise]] | ValueFormatter,
    *,
    family: str = "",
) -> None:
    """The words for a detail's coded values: choices (`TerminalStatus.choices`) or a function.
    `family` limits them to one kind of object's actions (`"terminal"` for `terminal.*`): a
    terminal's `status` and a stock-take's are different choices under the same key."""
    _detail_values[(family, key)] = values if callable(values) else dict(values)


def action_label(action: str) -> str:
    label = _action_labels.get(action)
    return str(label) if label is not None else action


def known_actions() -> list[tuple[str, str]]:
    """Every registered action and its words, in the order of the words."""
    return sorted(
        ((code, str(label)) for code, label in _action_labels.items()), key=lambda c: c[1]
    )


def detail_label(key: str) -> str:
    label = _detail_labels.get(key)
    return capfirst(str(label)) if label is not None else key


def detail_value(action: str, key: str, value: Any) -> str:
    """One detail's value in words: a registered choice's label, yes/no, a list joined."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    if isinstance(value, list):
        if action.endswith(".updated") and len(value) == 2:
            # `*.updated` events store each changed field as [old, new].
            old, new = (detail_value(action, key, v) for v in value)
            return f"{old} → {new}"
        return ", ".join(detail_value(action, key, v) for v in value) or "—"
    if isinstance(value, dict):
        # A count per coded value (a stock-take's findings per kind).
        return ", ".join(
            f"{detail_value(action, key, k)}: {detail_value(action, key, v)}"
            for k, v in value.items()
        )
    family = action.split(".", 1)[0]
    values = _detail_values.get((family, key), _detail_values.get(("", key)))
    if callable(values):
        return values(value)
    if values is not None and str(value) in values:
        return str(values[str(value)])
    return str(value)


def describe_details(action: str, details: Mapping[str, Any]) -> list[tuple[str, str]]:
    """An event's details as (label, value) pairs in words, in the order they were stored."""
    return [(detail_label(key), detail_value(action, key, value)) for key, value in details.items()]


def format_iso_datetime(value: Any) -> str:
    """A detail stored as an ISO timestamp, in local time (Asia/Tokyo) as the pages show times."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return date_format(moment, "DATETIME_FORMAT")


def chain_break_reason(reason: str) -> str:
    label = CHAIN_BREAK_REASONS.get(reason)
    return str(label) if label is not None else reason


def object_label(object_type: str, object_id: str) -> str:
    """An event's object in words: the model's name (under its current label) and the id."""
    try:
        model = apps.get_model(object_type_spellings(object_type)[0])
    except (LookupError, ValueError):
        return f"{object_type} {object_id}".strip()
    return f"{capfirst(str(model._meta.verbose_name))} {object_id}".strip()
