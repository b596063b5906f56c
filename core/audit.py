"""Writing and verifying the append-only, hash-chained audit trail."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import connection, models, transaction
from django.utils import timezone

from core.models import AuditEvent, User

GENESIS_HASH = "0" * 64
# Any constant key: it serialises appenders to the chain on PostgreSQL.
_CHAIN_LOCK_KEY = 0x6E77_7465_726D


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
