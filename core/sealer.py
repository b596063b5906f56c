"""Sealing, checkpointing and verifying the audit trail (after Certificate Transparency's
sequencer and signed tree heads).

`core.audit.record_event` only INSERTs an event, in the caller's transaction, with no lock and
no read of the chain. The sealer gives the committed events their place in the chain (a seal:
`seq`, `prev_hash`, `hash`, a row of AuditSeal; the event's own row is never written again), in
id order, a batch per short transaction:

- One sealer at a time: a lease row (`Lease`, core.leases) taken with an UPDATE that only succeeds
  once it expired (or for its holder); on PostgreSQL each batch also takes a transaction-level
  advisory lock with pg_try_advisory_xact_lock, so two sealers can never interleave even if a
  lease expired under a slow one. A sealer that dies leaves the lease to expire.
- The visibility rule. Ids come from a sequence when the INSERT runs, not when its transaction
  commits, so on PostgreSQL a lower id may become visible after a higher one. The sealer walks
  the unsealed events in id order from the id of the chain's head and stops at the first gap
  (an id it cannot see). Each batch first lists the other open transactions that may hold an
  id (pg_stat_activity: with a transaction id, or running a statement), then reads the
  candidates (READ COMMITTED: anything that committed before the list was taken is seen). A
  missing id below a visible one was taken before that one, so its transaction is either in
  the list or already over (rolled back). The sealer waits, up to AUDIT_SEAL_WAIT_MS per
  run, for the listed transactions to end; then every gap below the highest id the batch saw
  is settled (what committed is now visible, the rest never will be), and it goes on. No
  clocks are compared. A gap is also settled once the event after it is
  AUDIT_SEAL_GRACE_SECONDS old: an event whose transaction stays open that long is sealed when
  it commits, after higher ids (never skipped; the sealer logs a warning). The sealer's
  database role must see the writers' sessions (the same role, or pg_read_all_stats). On
  SQLite no writer is open beside the sealer (its transaction holds the database's only write
  lock): every gap is settled.
- Where the next batch starts: after the highest id sealed. An id the chain went past unseen is
  kept as a gap (AuditSealGap) with the sessions open just after the batch read (whoever still
  holds such an id is among them); each batch reads the gaps' ids again, seals what committed,
  and forgets a gap once none of its sessions was open when the batch began.
- Every AUDIT_CHECKPOINT_EVENTS events or AUDIT_CHECKPOINT_SECONDS the sealer signs the head
  (`AuditCheckpoint`), commits it, then sends it to the witnesses outside the database (a file
  of JSON lines, syslog, an HTTP endpoint). A witness that fails is recorded on the checkpoint
  and retried by the next run: the checkpoint is never lost.

`verify_chain` walks the chain by seq, checks every hash and link, every checkpoint's signature
and hash, and that every checkpoint in the witness file still matches the event at its seq:
someone who rewrites an event and recomputes every later hash cannot sign new checkpoints nor
change the witness file, and is caught there.
"""

import base64
import contextlib
import functools
import hashlib
import json
import logging
import os
import socket
import time
import urllib.request
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, models, transaction
from django.db.models import Count, Min, Q
from django.utils import timezone

from core.leases import default_holder, lease_release, lease_take
from core.models import (
    AuditChainCheck,
    AuditCheckpoint,
    AuditEvent,
    AuditSeal,
    AuditSealGap,
    event_hash,
)

logger = logging.getLogger("core.audit")

GENESIS_HASH = "0" * 64
LEASE_NAME = "sealer"
# Any constant key: on PostgreSQL it keeps two sealers' batches apart.
_SEAL_LOCK_KEY = 0x6E77_7465_726D
WITNESSES = ("file", "syslog", "http")
_EVENT_FIELDS = (
    "id",
    "occurred_at",
    "actor_username",
    "action",
    "object_type",
    "object_id",
    "details",
)


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    reason: str


@dataclass(frozen=True)
class SealResult:
    sealed: int
    checkpoints: int
    held_lease: bool


@dataclass(frozen=True)
class Backlog:
    count: int
    oldest_age_seconds: float
    alert: bool


# Keys -----------------------------------------------------------------------------------------


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@functools.cache
def _private_key(spec: str) -> Ed25519PrivateKey:
    spec = spec.strip()
    try:
        if spec.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(spec.encode(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError("not an Ed25519 key")
            return key
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(spec, validate=True))
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "AUDIT_SIGNING_KEY must be an Ed25519 private key: base64 of its 32 raw bytes, or PEM"
        ) from exc


def signing_key() -> Ed25519PrivateKey:
    return _private_key(settings.AUDIT_SIGNING_KEY)


def verify_keys() -> dict[str, Ed25519PublicKey]:
    """The public keys that verify checkpoints, by key id: the signing key's, and the former
    keys of AUDIT_VERIFY_KEYS."""
    keys = [signing_key().public_key()]
    for spec in settings.AUDIT_VERIFY_KEYS:
        try:
            keys.append(Ed25519PublicKey.from_public_bytes(base64.b64decode(spec, validate=True)))
        except ValueError as exc:
            raise ImproperlyConfigured(
                "AUDIT_VERIFY_KEYS must list Ed25519 public keys, base64 of 32 raw bytes each"
            ) from exc
    return {key_id(key): key for key in keys}


def checkpoint_message(seq: int, head_hash: str, created_at: datetime, kid: str) -> bytes:
    """What a checkpoint's signature covers."""
    moment = created_at.astimezone(UTC).isoformat(timespec="microseconds")
    return f"nwterm-audit-checkpoint/1\n{seq}\n{head_hash}\n{moment}\n{kid}".encode()


def _signature_valid(
    keys: dict[str, Ed25519PublicKey], seq: int, head: str, at: datetime, kid: str, sig: str
) -> bool | None:
    """True, False, or None when no key of that id is known."""
    key = keys.get(kid)
    if key is None:
        return None
    try:
        key.verify(base64.b64decode(sig), checkpoint_message(seq, head, at, kid))
    except (InvalidSignature, ValueError):
        return False
    return True


# The lease ------------------------------------------------------------------------------------


def take_lease(holder: str, seconds: int | None = None) -> bool:
    """Take (or renew) the sealer's lease; False while another holder's has not expired."""
    seconds = settings.AUDIT_SEAL_LEASE_SECONDS if seconds is None else seconds
    return lease_take(LEASE_NAME, holder, seconds)


def release_lease(holder: str) -> None:
    lease_release(LEASE_NAME, holder)


# Sealing --------------------------------------------------------------------------------------


def chain_head() -> tuple[int, int, str]:
    """(highest event id sealed, seq, hash) of the chain's head; (0, 0, GENESIS_HASH) for an
    empty chain. Every id up to the first is sealed or recorded in a gap (AuditSealGap)."""
    seals = _table(AuditSeal)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT MAX(event_id) FROM {seals}), seq, hash FROM {seals} "  # noqa: S608
            "ORDER BY seq DESC LIMIT 1"
        )
        head = cursor.fetchone()
    return head if head is not None else (0, 0, GENESIS_HASH)


def _open_transactions() -> set[tuple[int, datetime]]:
    """(pid, start) of every other open transaction that may hold an event id (PostgreSQL): one
    with a transaction id (it wrote), or with a snapshot (it runs a statement, maybe the INSERT
    that took the id before it got its transaction id). Only clients' sessions: autovacuum has
    a snapshot too, for as long as it vacuums a table, and never writes an event.
    pg_stat_clear_snapshot first: the activity view is otherwise read once per transaction."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT pid, xact_start FROM pg_stat_activity "
            "WHERE (backend_xid IS NOT NULL OR backend_xmin IS NOT NULL) "
            "AND xact_start IS NOT NULL AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend' AND datname = current_database()"
        )
        return set(cursor.fetchall())


def _wait_until_ended(transactions: set[tuple[int, datetime]], timeout: float) -> bool:
    """Whether every one of these transactions ended within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while transactions & _open_transactions():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@dataclass(frozen=True)
class _Blocked:
    """A batch stopped at a gap: once these transactions end, every id below `highest` is
    either visible or never will be."""

    transactions: frozenset[tuple[int, datetime]]
    highest: int


def _seal_batch(batch_size: int, settled_below: int = 0) -> tuple[int, _Blocked | None]:
    """Seal up to batch_size committed events in one transaction: how many were sealed, and
    what blocks the rest when a gap in the ids stopped it (see the module's docstring)."""
    postgres = connection.vendor == "postgresql"
    blocked = None
    open_before: set[tuple[int, datetime]] = set()
    with transaction.atomic():
        if postgres:
            open_before = _open_transactions()  # first: see the module's docstring
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_SEAL_LOCK_KEY])
                if not cursor.fetchone()[0]:
                    return 0, None
        through, seq, prev = chain_head()
        columns = ", ".join(("id", _occurred_at_column(), *_EVENT_FIELDS[2:]))
        # Events committed late inside a gap the chain went past: sealed first, after higher ids.
        late = _late_events(columns, open_before)
        candidates = late + _rows(
            f"SELECT {columns} FROM {_table()} WHERE id > %s ORDER BY id LIMIT %s",  # noqa: S608
            [through, batch_size],
        )
        if not candidates:
            return 0, None
        grace_start = timezone.now() - timedelta(seconds=settings.AUDIT_SEAL_GRACE_SECONDS)
        rows = []
        gaps = []
        last_id = through
        for event_id, occurred_at, actor, action, object_type, object_id, details in candidates:
            if event_id < last_id:
                logger.warning(
                    "Audit event id %s is sealed after id %s: its transaction stayed open "
                    "longer than AUDIT_SEAL_GRACE_SECONDS",
                    event_id,
                    last_id,
                )
            elif event_id != last_id + 1:
                if (
                    postgres
                    and event_id > settled_below
                    and datetime.fromisoformat(occurred_at) >= grace_start
                ):
                    blocked = _Blocked(frozenset(open_before), candidates[-1][0])
                    break
                gaps.append((last_id + 1, event_id - 1))
            seq += 1
            digest = event_hash(
                seq=seq,
                occurred_at=occurred_at,
                actor_username=actor,
                action=action,
                object_type=object_type,
                object_id=object_id,
                details=details,
                prev_hash=prev,
            )
            rows.append((seq, prev, digest, event_id))
            prev = digest
            last_id = max(last_id, event_id)
        if rows:
            _write_seals(rows)
        if gaps and postgres:
            # Whoever holds an id in a gap and has not ended yet is open now: the gap is
            # settled once all of these ended (SQLite has no other writer: a gap there is an
            # id rolled back).
            holders = [[pid, started.isoformat()] for pid, started in _open_transactions()]
            AuditSealGap.objects.bulk_create(
                AuditSealGap(first_id=first, last_id=last, transactions=holders)
                for first, last in gaps
            )
        return len(rows), blocked


def _late_events(columns: str, open_now: set[tuple[int, datetime]]) -> list[tuple]:
    """The unsealed events inside the recorded gaps, in id order; deletes each gap whose
    sessions had all ended before this batch began (what they committed is visible now and is
    in the list)."""
    gaps = list(AuditSealGap.objects.values_list("pk", "first_id", "last_id", "transactions"))
    if not gaps:
        return []
    open_keys = {(pid, started.isoformat()) for pid, started in open_now}
    settled = [pk for pk, _, _, holders in gaps if not {tuple(h) for h in holders} & open_keys]
    within = " OR ".join("e.id BETWEEN %s AND %s" for _ in gaps)
    late = _rows(
        f"SELECT {columns} FROM {_table()} AS e WHERE ({within}) AND NOT EXISTS "  # noqa: S608
        f"(SELECT 1 FROM {_table(AuditSeal)} AS s WHERE s.event_id = e.id) ORDER BY e.id",
        [bound for _, first, last, _ in gaps for bound in (first, last)],
    )
    AuditSealGap.objects.filter(pk__in=settled).delete()
    return late


def _write_seals(rows: list[tuple[int, str, str, int]]) -> None:
    """The one place seals are written: (seq, prev_hash, hash, event id) each."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement per batch, its values as four arrays (sent binary: %b): a short
            # query psycopg can keep prepared, instead of one with four placeholders per event
            # that it parsed again for each batch.
            cursor.execute(
                f"INSERT INTO {_table(AuditSeal)} (seq, prev_hash, hash, event_id) "  # noqa: S608
                "SELECT * FROM unnest(%b::bigint[], %b::varchar[], %b::varchar[], %b::bigint[])",
                [list(column) for column in zip(*rows, strict=True)],
            )
        else:
            cursor.executemany(
                f"INSERT INTO {_table(AuditSeal)} (seq, prev_hash, hash, event_id) "  # noqa: S608
                "VALUES (%s, %s, %s, %s)",
                rows,
            )


def chain_check(*, seal: bool = False) -> AuditChainCheck:
    """Verify the whole chain (sealing what is pending first when `seal`) and keep the outcome:
    what the audit-trail page shows, so that reading it never walks the trail."""
    verified, broken = verify_chain(seal=seal)
    return AuditChainCheck.objects.create(
        checked_at=timezone.now(),
        verified=verified,
        broken_seq=broken.seq if broken else None,
        broken_reason=broken.reason if broken else "",
    )


def latest_chain_check() -> AuditChainCheck | None:
    return AuditChainCheck.objects.order_by("-id").first()


def _chain(batch_size: int) -> Generator[tuple, None, None]:
    """Every seal up to the chain's head, in seq order, each with its event's hashed fields:
    (seq, prev_hash, hash, event id, occurred_at, actor, action, object type, object id,
    details), the event's five None when it is gone. A batch is a range of seqs, so every
    batch's query is known in advance: on PostgreSQL the next one is sent (psycopg's pipeline
    mode) before the caller checks this one, and PostgreSQL reads it meanwhile. Each query is
    planned for its own range, never prepared: a generic plan of this join scans every event."""
    head = AuditSeal.objects.aggregate(head=models.Max("seq"))["head"] or 0
    columns = ", ".join(
        (
            "s.seq",
            "s.prev_hash",
            "s.hash",
            "e.id",
            _occurred_at_column("e"),
            *(f"e.{field}" for field in _EVENT_FIELDS[2:]),
        )
    )
    sql = (
        f"SELECT {columns} FROM {_table(AuditSeal)} AS s "  # noqa: S608
        f"LEFT JOIN {_table()} AS e ON e.id = s.event_id "
        "WHERE s.seq > %s AND s.seq <= %s ORDER BY s.seq"
    )
    ranges = [(low, min(low + batch_size, head)) for low in range(0, head, batch_size)]
    if connection.vendor != "postgresql":
        for low, high in ranges:
            yield from _rows(sql, [low, high], first_event_column=3)
        return
    if not ranges:
        return
    connection.ensure_connection()
    raw = connection.connection
    with connection.wrap_database_errors, raw.pipeline(), raw.cursor() as cursor:
        cursor.execute(sql, ranges[0], prepare=False)
        rows = cursor.fetchall()
        for following in [*ranges[1:], None]:
            # Sent, not waited for: PostgreSQL reads the next batch while this one is checked.
            if following is not None:
                cursor.execute(sql, following, prepare=False)
            yield from _converted(rows, first_event_column=3)
            if following is not None:
                rows = cursor.fetchall()


def _occurred_at_column(alias: str = "") -> str:
    """The event's time as the text its hash covers, straight from PostgreSQL (no parsing)."""
    column = f"{alias}.occurred_at" if alias else "occurred_at"
    if connection.vendor == "postgresql":
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"
    return column


def _table(model: type[models.Model] = AuditEvent) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _rows(sql: str, params: list, first_event_column: int = 0) -> list[tuple]:
    """Events straight from the cursor, with no model or converter: the time as the isoformat
    the hash covers and the details parsed (what the hash's canonical JSON is built from).
    An event's columns start at `first_event_column` (its id), after the row's own."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return _converted(rows, first_event_column)


def _converted(rows: list[tuple], first_event_column: int = 0) -> list[tuple]:
    at = first_event_column + 1
    return [
        row
        if row[first_event_column] is None  # no event (a seal whose event is gone)
        else (*row[:at], _iso(row[at]), *row[at + 1 : at + 5], _json(row[at + 5]), *row[at + 6 :])
        for row in rows
    ]


def _iso(value: datetime | str) -> str:
    if isinstance(value, str):
        if value[10] == "T":  # PostgreSQL's to_char: the isoformat already
            return value
        value = datetime.fromisoformat(value)  # "YYYY-MM-DD HH:MM:SS[.ffffff][+00:00]"
    if value.tzinfo is None:  # SQLite stores UTC without its offset
        value = value.replace(tzinfo=UTC)
    return value.isoformat(timespec="microseconds")


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def seal_pending(*, holder: str | None = None, max_batches: int | None = None) -> SealResult:
    """Seal what is committed and unsealed, write the checkpoints that are due and retry the
    witnesses that failed; does nothing while another sealer holds the lease."""
    holder = holder or default_holder()
    if not take_lease(holder):
        return SealResult(0, 0, held_lease=False)
    sealed = checkpoints = batches = 0
    try:
        _warn_on_backlog()  # as the events waited, before this run seals them
        settled_below = 0
        waited = 0.0
        while max_batches is None or batches < max_batches:
            count, blocked = _seal_batch(settings.AUDIT_SEAL_BATCH, settled_below)
            sealed += count
            batches += blocked is None  # a batch cut short at a gap goes on after the wait
            if _checkpoint_if_due():
                checkpoints += 1
            if blocked is not None:
                # Wait (a little, within this run) for the transactions that may hold the
                # missing ids to end; then every gap below what the batch saw is settled.
                start = time.monotonic()
                ended = _wait_until_ended(
                    set(blocked.transactions), max(settings.AUDIT_SEAL_WAIT_MS / 1000 - waited, 0)
                )
                waited += time.monotonic() - start
                if not ended:
                    break
                settled_below = blocked.highest
            elif count < settings.AUDIT_SEAL_BATCH:
                break
            if not take_lease(holder):  # renew it; lost only if it expired under us
                break
        if _checkpoint_if_due():
            checkpoints += 1
        retry_witnesses()
    finally:
        release_lease(holder)
    return SealResult(sealed, checkpoints, held_lease=True)


def unsealed_backlog() -> Backlog:
    """How many events wait for the sealer, and the oldest one's age in seconds."""
    through, _, _ = chain_head()
    # None of these is sealed (`through` is the highest id sealed): the plain manager, with no
    # join to the seals.
    figures = [AuditEvent._base_manager.filter(id__gt=through)]
    gaps = Q()
    for first, last in AuditSealGap.objects.values_list("first_id", "last_id"):
        gaps |= Q(id__range=(first, last))
    if gaps:
        figures.append(AuditEvent.objects.filter(gaps, seal__isnull=True))
    # Two small reads, not one with an OR: joined to every seal, that one read the whole table.
    rows = [events.aggregate(n=Count("id"), t=Min("occurred_at")) for events in figures]
    count = sum(row["n"] for row in rows)
    oldest = min((row["t"] for row in rows if row["t"]), default=None)
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    return Backlog(count, max(age, 0.0), age > settings.AUDIT_UNSEALED_ALERT_SECONDS)


def _warn_on_backlog() -> None:
    backlog = unsealed_backlog()
    if backlog.alert:
        logger.warning(
            "%s audit events are not sealed; the oldest is %.0f s old (alert after %s s)",
            backlog.count,
            backlog.oldest_age_seconds,
            settings.AUDIT_UNSEALED_ALERT_SECONDS,
        )


# Checkpoints and witnesses --------------------------------------------------------------------


def _configured_witnesses() -> list[str]:
    return [
        name
        for name, setting in zip(
            WITNESSES,
            (
                settings.AUDIT_WITNESS_FILE,
                settings.AUDIT_WITNESS_SYSLOG,
                settings.AUDIT_WITNESS_URL,
            ),
            strict=True,
        )
        if setting
    ]


def _checkpoint_if_due() -> AuditCheckpoint | None:
    _, seq, head_hash = chain_head()
    if seq == 0:
        return None
    last = AuditCheckpoint.objects.order_by("-seq").values_list("seq", "created_at").first()
    now = timezone.now()
    if last is not None:
        behind = seq - last[0]
        if behind <= 0:
            return None
        due_by_time = now - last[1] >= timedelta(seconds=settings.AUDIT_CHECKPOINT_SECONDS)
        if behind < settings.AUDIT_CHECKPOINT_EVENTS and not due_by_time:
            return None
    key = signing_key()
    kid = key_id(key.public_key())
    signature = base64.b64encode(key.sign(checkpoint_message(seq, head_hash, now, kid))).decode()
    # Intent first: the checkpoint is committed before any witness hears of it.
    checkpoint = AuditCheckpoint.objects.create(
        seq=seq,
        head_hash=head_hash,
        created_at=now,
        key_id=kid,
        signature=signature,
        witness_pending=",".join(_configured_witnesses()),
    )
    _witness(checkpoint)
    return checkpoint


def retry_witnesses(limit: int = 100) -> None:
    """The sweeper: send the checkpoints a witness has not acknowledged yet."""
    for checkpoint in AuditCheckpoint.objects.exclude(witness_pending="").order_by("seq")[:limit]:
        _witness(checkpoint)


def witness_record(checkpoint: AuditCheckpoint) -> dict:
    return {
        "seq": checkpoint.seq,
        "hash": checkpoint.head_hash,
        "time": checkpoint.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
    }


def _witness(checkpoint: AuditCheckpoint) -> None:
    line = json.dumps(witness_record(checkpoint), sort_keys=True, separators=(",", ":"))
    pending, errors = [], []
    for name in [w for w in checkpoint.witness_pending.split(",") if w]:
        try:
            _SENDERS[name](line)
        except Exception as exc:  # any failure: keep it pending, say why, retry next run
            pending.append(name)
            errors.append(f"{name}: {exc}")
            logger.warning(
                "Audit checkpoint #%s not witnessed by %s: %s", checkpoint.seq, name, exc
            )
    AuditCheckpoint.objects.filter(pk=checkpoint.pk).update(
        witness_pending=",".join(pending),
        witness_error="; ".join(errors),
        witnessed_at=None if pending else timezone.now(),
    )


def _to_file(line: str) -> None:
    path = Path(settings.AUDIT_WITNESS_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _to_syslog(line: str) -> None:
    target = settings.AUDIT_WITNESS_SYSLOG
    message = f"<110>nwterm-audit: {line}".encode()  # facility 13 (log audit), informational
    if target.startswith("/"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(target)
            sock.send(message)
    else:
        host, _, port = target.rpartition(":")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(message, (host, int(port)))


def _to_http(line: str) -> None:
    request = urllib.request.Request(  # noqa: S310 (the operator's URL)
        settings.AUDIT_WITNESS_URL,
        data=line.encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        if not 200 <= response.status < 300:
            raise OSError(f"HTTP {response.status}")


_SENDERS = {"file": _to_file, "syslog": _to_syslog, "http": _to_http}


def witnessed_checkpoints() -> Iterator[dict]:
    """The checkpoints the witness file holds (what the database cannot rewrite)."""
    if not settings.AUDIT_WITNESS_FILE:
        return
    path = Path(settings.AUDIT_WITNESS_FILE)
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line of a crash; the next run writes it again


# Verifying ------------------------------------------------------------------------------------


def verify_chain(*, batch_size: int = 5000, seal: bool = True) -> tuple[int, ChainBreak | None]:
    """Seal what is pending (when `seal`), then walk the chain in order: return how many events
    verified and the first break, in a link, a checkpoint or against the witness file."""
    if seal:
        seal_pending()
    keys = verify_keys()
    # seq -> [(hash, reason if it does not match)]: the database's checkpoints, then the file's.
    expected: dict[int, list[tuple[str, str]]] = {}
    for seq, head, at, kid, sig in AuditCheckpoint.objects.order_by("seq").values_list(
        "seq", "head_hash", "created_at", "key_id", "signature"
    ):
        valid = _signature_valid(keys, seq, head, at, kid, sig)
        if valid is None:
            expected.setdefault(seq, []).append(("", "checkpoint signed with an unknown key"))
        elif not valid:
            expected.setdefault(seq, []).append(("", "checkpoint signature is not valid"))
        else:
            expected.setdefault(seq, []).append((head, "checkpoint does not match the chain"))
    for record in witnessed_checkpoints():
        try:
            seq, head = int(record["seq"]), str(record["hash"])
            at = datetime.fromisoformat(record["time"])
            valid = _signature_valid(keys, seq, head, at, record["key_id"], record["signature"])
        except (KeyError, TypeError, ValueError):
            continue
        if valid:  # a line nobody signed proves nothing either way
            expected.setdefault(seq, []).append(
                (head, "witnessed checkpoint does not match the chain")
            )

    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    with contextlib.closing(_chain(batch_size)) as chain:
        for seq, prev, digest, event_id, *fields in chain:
            if seq != expected_seq or event_id is None:
                return checked, ChainBreak(expected_seq, "event missing from the sequence")
            if prev != expected_prev:
                return checked, ChainBreak(seq, "previous hash does not match")
            occurred_at, actor, action, object_type, object_id, details = fields
            computed = event_hash(
                seq=seq,
                occurred_at=occurred_at,
                actor_username=actor,
                action=action,
                object_type=object_type,
                object_id=object_id,
                details=details,
                prev_hash=prev,
            )
            if computed != digest:
                return checked, ChainBreak(seq, "content does not match its hash")
            for head, reason in expected.get(seq, ()):
                if head != digest:
                    return checked, ChainBreak(seq, reason)
            expected_prev = digest
            expected_seq += 1
            checked += 1
    if any(seq >= expected_seq for seq in expected):
        # A checkpoint past the end: events were removed from the tail.
        return checked, ChainBreak(expected_seq, "event missing from the sequence")
    return checked, None
