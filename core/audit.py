"""Writing and verifying the append-only, hash-chained audit trail."""

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.apps import apps
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.text import capfirst
from django.utils.translation import gettext, gettext_lazy

from core.models import AuditEvent, User

GENESIS_HASH = "0" * 64
# Any constant key: it serialises appenders to the chain on PostgreSQL.
_CHAIN_LOCK_KEY = 0x6E77_7465_726D

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


@transaction.atomic
def record_event(
    *,
    actor: User | None,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction. Never put a secret into `details`."""
    if obj is not None:
        object_type, object_id = object_ref(obj)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
    # On SQLite the IMMEDIATE transaction already holds the database's only write lock.
    last = AuditEvent.objects.order_by("-seq").values("seq", "hash").first()
    event = AuditEvent(
        seq=(last["seq"] + 1) if last else 1,
        occurred_at=timezone.now(),
        actor=actor if actor is not None and actor.pk else None,
        actor_username=actor.get_username() if actor is not None and actor.pk else "system",
        action=action,
        object_type=object_type,
        object_id=object_id,
        details=details or {},
        prev_hash=last["hash"] if last else GENESIS_HASH,
    )
    event.hash = event.compute_hash()
    event.save(force_insert=True)
    return event


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    reason: str


def verify_chain(*, batch_size: int = 2000) -> tuple[int, ChainBreak | None]:
    """Walk the chain in order; return how many events verified and the first broken link."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for event in _events_in_order(batch_size):
        if event.seq != expected_seq:
            return checked, ChainBreak(expected_seq, "event missing from the sequence")
        if event.prev_hash != expected_prev:
            return checked, ChainBreak(event.seq, "previous hash does not match")
        if event.compute_hash() != event.hash:
            return checked, ChainBreak(event.seq, "content does not match its hash")
        expected_prev = event.hash
        expected_seq += 1
        checked += 1
    return checked, None


def _events_in_order(batch_size: int) -> Iterator[AuditEvent]:
    last_seq = 0
    while True:
        batch = list(AuditEvent.objects.filter(seq__gt=last_seq).order_by("seq")[:batch_size])
        if not batch:
            return
        yield from batch
        last_seq = batch[-1].seq


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
