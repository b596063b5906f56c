"""Access-log ingestion (アクセスログ取込): the intent is recorded first (an AccessLogIngestion,
queued, its file kept under MEDIA_ROOT), a worker reads the file in batches, and a sweeper sends
again what a broker that was down, or a worker that died, left behind.

Storing is set-based and idempotent: each line's fingerprint (sha256 of the target's code and
the line) is unique per target, so a line sent twice, in the same file or an overlapping export,
is stored once and counted as a duplicate. On PostgreSQL a batch is COPYed into a temporary
staging table and inserted from there with ON CONFLICT DO NOTHING; on SQLite it is a batched
bulk_create that ignores conflicts. Either way the counts come from the rows actually inserted.

One function per transition (queued, running, done, failed), each writing its audit event."""

import hashlib
import logging
import os
import queue
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import IO, Any, BinaryIO, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.files import File
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from compliance.access_logs.parsers import (
    FileRefused,
    Item,
    LineCount,
    Malformed,
    MappingSpec,
    ParsedEvent,
    parse_csv,
    parse_jsonl,
    parse_slapd,
    split_values,
)
from compliance.models import (
    AccessLogFormat,
    AccessLogIngestion,
    AccessLogMapping,
    IngestionSource,
    IngestionStatus,
    SignInEvent,
)
from core.audit import record_event
from core.errors import InvalidInput
from core.models import User
from core.queue import enqueue
from core.transitions import check_transition
from credentials.models import TargetSystem

logger = logging.getLogger(__name__)

INGEST_TASK = "compliance.tasks.ingest_access_log"
MAX_PROBLEMS = 100
# A batch is stored when it holds this many lines, or this many bytes of them (a file of long
# lines must not grow the batch past a few MiB).
BATCH_BYTES = 4 * 1024 * 1024
# How far the pre-flight reads before it accepts a file: the header, the first records.
PREFLIGHT_ITEMS = 50


def batch_lines() -> int:
    return max(1, int(getattr(settings, "ACCESS_LOG_BATCH_LINES", 5000)))


# The mapping ----------------------------------------------------------------------------------


def mapping_of(target_system: TargetSystem) -> AccessLogMapping:
    """The target's mapping, or the defaults (unsaved) when security has not set one."""
    try:
        return target_system.access_log_mapping
    except AccessLogMapping.DoesNotExist:
        return AccessLogMapping(target_system=target_system)


def mapping_spec(target_system: TargetSystem) -> MappingSpec:
    mapping = mapping_of(target_system)
    return MappingSpec(
        time_column=mapping.time_column.strip(),
        login_id_column=mapping.login_id_column.strip(),
        result_column=mapping.result_column.strip(),
        source_host_column=mapping.source_host_column.strip(),
        source_address_column=mapping.source_address_column.strip(),
        time_format=mapping.time_format,
        time_zone=mapping.time_zone,
        success_values=split_values(mapping.success_values),
        failure_values=split_values(mapping.failure_values),
        login_id_prefix=target_system.login_id_prefix,
    )


_MAPPING_FIELDS = (
    "time_column",
    "login_id_column",
    "result_column",
    "source_host_column",
    "source_address_column",
    "time_format",
    "time_zone",
    "success_values",
    "failure_values",
)


@transaction.atomic
def access_log_mapping_update(
    *, target_system: TargetSystem, actor: User | None, **values: str
) -> AccessLogMapping:
    """Security sets how the target's exported logs read; the event records what changed."""

    unknown = set(values) - set(_MAPPING_FIELDS)
    if unknown:
        raise TypeError(f"unknown mapping fields: {sorted(unknown)}")
    errors: dict[str, list[str]] = {}
    values = {key: str(value).strip() for key, value in values.items()}
    for required in ("time_column", "login_id_column", "result_column"):
        if required in values and not values[required]:
            errors[required] = [_("Name the column.")]
    if "time_zone" in values:
        try:
            ZoneInfo(values["time_zone"])
        except (ZoneInfoNotFoundError, ValueError):
            errors["time_zone"] = [_("Unknown time zone; for example Asia/Tokyo or UTC.")]
    success = split_values(values.get("success_values", "x"))
    failure = split_values(values.get("failure_values", "y"))
    if not success:
        errors["success_values"] = [_("Give at least one value meaning success.")]
    if not failure:
        errors["failure_values"] = [_("Give at least one value meaning failure.")]
    if success & failure:
        errors["failure_values"] = [
            _("A value cannot mean both success and failure: %(values)s.")
            % {"values": ", ".join(sorted(success & failure))}
        ]
    if errors:
        raise InvalidInput(_("The mapping was not saved."), field_errors=errors)
    mapping, _created = AccessLogMapping.objects.select_for_update().get_or_create(
        target_system=target_system
    )
    changes = {
        key: [getattr(mapping, key), value]
        for key, value in values.items()
        if getattr(mapping, key) != value
    }
    if not changes and not _created:
        return mapping
    for key, (_old, value) in changes.items():
        setattr(mapping, key, value)
    mapping.updated_by = actor if actor is not None and actor.pk else None
    mapping.save()
    record_event(
        actor=actor,
        action="access_log.mapping_updated",
        obj=mapping,
        details={"target_system": target_system.code, "changes": changes},
    )
    return mapping


# Parsing a file -------------------------------------------------------------------------------


def _items(
    ingestion_format: str,
    file: BinaryIO,
    *,
    target_system: TargetSystem,
    spec: MappingSpec,
    context_time: datetime,
    count: LineCount | None = None,
) -> Iterator[Item]:
    if ingestion_format == AccessLogFormat.CSV:
        return parse_csv(file, spec=spec, target_code=target_system.code, count=count)
    if ingestion_format == AccessLogFormat.JSON_LINES:
        return parse_jsonl(file, spec=spec, target_code=target_system.code, count=count)
    return parse_slapd(
        file, spec=spec, target_code=target_system.code, context_time=context_time, count=count
    )


def _preflight(ingestion_format: str, file: BinaryIO, target_system: TargetSystem) -> None:
    """Refuse, before anything is written, a file the worker would refuse: not text, a header
    that does not match the mapping. Reads only the file's start, then rewinds it."""
    file.seek(0)
    try:
        items = _items(
            ingestion_format,
            file,
            target_system=target_system,
            spec=mapping_spec(target_system),
            context_time=timezone.now(),
        )
        for index, item in enumerate(items):
            if isinstance(item, ParsedEvent) or index >= PREFLIGHT_ITEMS:
                break
    finally:
        file.seek(0)


def _sha256_of(file: IO[bytes]) -> str:
    digest = hashlib.sha256()
    file.seek(0)
    for chunk in iter(lambda: file.read(1024 * 1024), b""):
        digest.update(chunk)
    file.seek(0)
    return digest.hexdigest()


# Transitions ----------------------------------------------------------------------------------


def access_log_ingestion_create(
    *,
    actor: User | None,
    target_system: TargetSystem,
    format: str,
    file: IO[bytes],
    source: str,
    file_name: str = "",
    send: bool = True,
) -> AccessLogIngestion:
    """Record the intent: the ingestion, queued, with its file kept for the worker; the task is
    sent after the commit (send=False when the caller reads it in process, as the command does).
    A file that is not text or whose header does not match the mapping is refused here and
    nothing is written."""
    if format not in AccessLogFormat.values:
        raise InvalidInput(
            _("The log was not read."),
            field_errors={
                "format": [
                    _("Unknown format %(f)s: choose csv, jsonl or slapd.") % {"f": format[:20]}
                ]
            },
        )
    if source not in IngestionSource.values:
        raise ValueError(f"unknown ingestion source {source!r}")
    binary = cast(BinaryIO, file)
    _preflight(format, binary, target_system)
    name = os.path.basename(file_name or getattr(file, "name", "") or "access.log")[:200]
    sha256 = _sha256_of(file)
    with transaction.atomic():
        ingestion = AccessLogIngestion(
            target_system=target_system,
            format=format,
            source=source,
            file_name=name,
            file_sha256=sha256,
            status=IngestionStatus.QUEUED,
            created_by=actor if actor is not None and actor.pk else None,
        )
        ingestion.file.save(name, File(file, name=name), save=False)
        ingestion.save()
        record_event(
            actor=actor,
            action="access_log.ingestion_queued",
            obj=ingestion,
            details={
                "target_system": target_system.code,
                "format": format,
                "source": source,
                "file_name": name,
                "file_sha256": sha256,
            },
        )
        if send:
            pk = ingestion.pk
            transaction.on_commit(lambda: enqueue(INGEST_TASK, pk))
    return ingestion


def _ingestion_start(ingestion_id: int, *, now: datetime) -> AccessLogIngestion | None:
    """Queued (or running with its progress stopped) -> running; None when it is not this
    worker's to read: done, failed, or being read by another worker right now."""
    with transaction.atomic():
        ingestion = (
            AccessLogIngestion.objects.select_for_update()
            .select_related("target_system")
            .filter(pk=ingestion_id)
            .first()
        )
        if ingestion is None or ingestion.status in (IngestionStatus.DONE, IngestionStatus.FAILED):
            return None
        if ingestion.status == IngestionStatus.RUNNING and not _stalled(ingestion, now):
            return None
        check_transition(ingestion, IngestionStatus.RUNNING)
        again = ingestion.status == IngestionStatus.RUNNING
        ingestion.status = IngestionStatus.RUNNING
        ingestion.started_at = ingestion.started_at or now
        ingestion.progressed_at = now
        ingestion.lines_read = ingestion.accepted = ingestion.malformed = 0
        ingestion.duplicates = 0
        ingestion.problems = []
        ingestion.save(
            update_fields=[
                "status",
                "started_at",
                "progressed_at",
                "lines_read",
                "accepted",
                "malformed",
                "duplicates",
                "problems",
            ]
        )
        record_event(
            actor=None,
            action="access_log.ingestion_started",
            obj=ingestion,
            details={"again": again} if again else {},
        )
    return ingestion


def _ingestion_finish(ingestion: AccessLogIngestion, *, now: datetime) -> AccessLogIngestion:
    with transaction.atomic():
        locked = AccessLogIngestion.objects.select_for_update().get(pk=ingestion.pk)
        check_transition(locked, IngestionStatus.DONE)
        locked.status = IngestionStatus.DONE
        locked.finished_at = now
        locked.save(update_fields=["status", "finished_at"])
        record_event(
            actor=None,
            action="access_log.ingestion_done",
            obj=locked,
            details={
                "target_system": ingestion.target_system.code,
                "lines_read": locked.lines_read,
                "accepted": locked.accepted,
                "malformed": locked.malformed,
                "duplicates": locked.duplicates,
            },
        )
    _remove_file(locked)
    return locked


def access_log_ingestion_fail(*, ingestion: AccessLogIngestion, error: str) -> AccessLogIngestion:
    with transaction.atomic():
        locked = AccessLogIngestion.objects.select_for_update().get(pk=ingestion.pk)
        check_transition(locked, IngestionStatus.FAILED)
        locked.status = IngestionStatus.FAILED
        locked.error = error[:2000]
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "error", "finished_at"])
        record_event(
            actor=None,
            action="access_log.ingestion_failed",
            obj=locked,
            details={"error": locked.error},
        )
    _remove_file(locked)
    return locked


def _remove_file(ingestion: AccessLogIngestion) -> None:
    """The file is not kept once read: its lines are stored, and it may hold personal data."""
    if ingestion.file:
        ingestion.file.delete(save=False)
        AccessLogIngestion.objects.filter(pk=ingestion.pk).update(file="")


def _stalled(ingestion: AccessLogIngestion, now: datetime) -> bool:
    seen = ingestion.progressed_at or ingestion.started_at or ingestion.created_at
    return seen < now - timedelta(seconds=settings.ACCESS_LOG_STALL_SECONDS)


# Reading --------------------------------------------------------------------------------------


class _TakenOver(Exception):
    """Another worker took the ingestion over (this one was thought dead): stop here."""


def access_log_ingestion_run(ingestion_id: int) -> AccessLogIngestion | None:
    """Read the ingestion's file in batches, storing its sign-ins and counting its lines; the
    counts are saved after each batch (the page's progress). Idempotent: a second call for an
    ingestion that is done, or being read, does nothing; reading again from the start after a
    crash counts the lines already stored as duplicates."""
    ingestion = _ingestion_start(ingestion_id, now=timezone.now())
    if ingestion is None:
        return AccessLogIngestion.objects.filter(pk=ingestion_id).first()
    try:
        _read(ingestion)
    except _TakenOver:
        return AccessLogIngestion.objects.get(pk=ingestion.pk)
    except FileRefused as refused:
        return access_log_ingestion_fail(ingestion=ingestion, error=refused.message)
    except (OSError, ValueError) as exc:
        logger.exception("access log ingestion %s could not be read", ingestion.pk)
        return access_log_ingestion_fail(
            ingestion=ingestion,
            error=_("The file could not be read: %(error)s") % {"error": type(exc).__name__},
        )
    return _ingestion_finish(ingestion, now=timezone.now())


def _read(ingestion: AccessLogIngestion) -> None:
    if not ingestion.file:
        raise FileRefused(_("The file is no longer there."))
    count = LineCount()
    progress = _Progress(ingestion)
    with ingestion.file.open("rb") as file:
        binary = cast(BinaryIO, file)  # a FieldFile reads as its file does
        items = _items(
            ingestion.format,
            binary,
            target_system=ingestion.target_system,
            spec=mapping_spec(ingestion.target_system),
            context_time=ingestion.created_at,
            count=count,
        )
        _store_items(items, progress, count)


def _store_items(items: Iterable[Item], progress: "_Progress", count: LineCount) -> None:
    """Store parsed items in batches of ACCESS_LOG_BATCH_LINES (or BATCH_BYTES). The parsing
    runs one batch ahead in a thread of its own while the database stores the previous one
    (psycopg lets go of the GIL while it waits): two cores instead of one, and at most three
    batches in memory (the one stored, the one waiting, the one being parsed)."""
    for events, malformed, lines in _ahead(_batches(items, count)):
        progress.store(events, malformed, lines)


Batch = tuple[list[ParsedEvent], list[Malformed], int]


def _batches(items: Iterable[Item], count: LineCount) -> Iterator[Batch]:
    limit, events, batch_bytes = batch_lines(), [], 0
    malformed: list[Malformed] = []
    for item in items:
        if isinstance(item, Malformed):
            malformed.append(item)
        else:
            events.append(item)
            batch_bytes += len(item.raw_line)
        if len(events) + len(malformed) >= limit or batch_bytes >= BATCH_BYTES:
            yield events, malformed, count.lines
            events, malformed, batch_bytes = [], [], 0
    yield events, malformed, count.lines


_DONE = object()


def _ahead(batches: Iterator[Batch]) -> Iterator[Batch]:
    """The batches, produced in a thread one ahead of their consumer. An exception of the
    producer (a refused file) is raised here; a consumer that stops early stops the producer."""
    language = translation.get_language()
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        with translation.override(language):
            try:
                for batch in batches:
                    while not stop.is_set():
                        try:
                            ready.put(batch, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                result: object = _DONE
            except BaseException as exc:  # handed to the consumer, raised there
                result = exc
        while not stop.is_set():
            try:
                ready.put(result, timeout=0.1)
                return
            except queue.Full:
                continue

    thread = threading.Thread(target=produce, name="access-log-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


class _Progress:
    """The running counts of one reading, saved with each batch."""

    def __init__(self, ingestion: AccessLogIngestion):
        self.ingestion = ingestion
        self.accepted = self.duplicates = self.malformed = 0
        self.problems: list[dict[str, Any]] = []
        self.seen = ingestion.progressed_at

    def store(self, events: list[ParsedEvent], malformed: list[Malformed], lines: int) -> None:
        now = timezone.now()
        with transaction.atomic():
            offered = len(events)
            inserted = store_events(self.ingestion, events) if events else 0
            self.malformed += len(malformed)
            for bad in malformed[: max(0, MAX_PROBLEMS - len(self.problems))]:
                self.problems.append({"line": bad.line_number, "reason": bad.reason})
            self.accepted += inserted
            self.duplicates += offered - inserted
            # Compare-and-set on the last progress: a sweeper that gave this worker up for dead
            # and sent the ingestion to another makes this one stop.
            claimed = AccessLogIngestion.objects.filter(
                pk=self.ingestion.pk, status=IngestionStatus.RUNNING, progressed_at=self.seen
            ).update(
                lines_read=lines,
                accepted=self.accepted,
                duplicates=self.duplicates,
                malformed=self.malformed,
                problems=self.problems,
                progressed_at=now,
            )
            if not claimed:
                transaction.set_rollback(True)
                raise _TakenOver
        self.seen = now


# Storing --------------------------------------------------------------------------------------

_COLUMNS = (
    "occurred_at",
    "login_id",
    "result",
    "source_host",
    "source_address",
    "line_number",
    "raw_line",
    "fingerprint",
)


def store_events(ingestion: AccessLogIngestion, events: list[ParsedEvent]) -> int:
    """Insert the events that are new for the target; answer how many were inserted."""
    if connection.vendor == "postgresql":
        return _store_postgresql(ingestion, events)
    return _store_batched(ingestion, events)


def _store_postgresql(ingestion: AccessLogIngestion, events: list[ParsedEvent]) -> int:
    table = connection.ops.quote_name(SignInEvent._meta.db_table)
    columns = ", ".join(_COLUMNS)
    with connection.cursor() as cursor:
        # A temporary table lives as long as the connection; emptied before each batch.
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS access_log_staging ("
            " occurred_at timestamptz NOT NULL, login_id varchar(64) NOT NULL,"
            " result varchar(8) NOT NULL, source_host varchar(255) NOT NULL,"
            " source_address inet NULL, line_number integer NOT NULL,"
            " raw_line text NOT NULL, fingerprint varchar(64) NOT NULL)"
        )
        cursor.execute("TRUNCATE access_log_staging")
        with cursor.cursor.copy(f"COPY access_log_staging ({columns}) FROM STDIN") as copy:
            for event in events:
                copy.write_row(
                    (
                        event.occurred_at,
                        event.login_id,
                        event.result,
                        event.source_host,
                        event.source_address,
                        event.line_number,
                        event.raw_line,
                        event.fingerprint,
                    )
                )
        cursor.execute(
            f"INSERT INTO {table} (target_system_id, ingestion_id, received_at, {columns}) "  # noqa: S608
            f"SELECT %s, %s, now(), {columns} FROM access_log_staging "
            "ON CONFLICT (target_system_id, fingerprint) DO NOTHING",
            [ingestion.target_system_id, ingestion.pk],
        )
        return cursor.rowcount


def _store_batched(ingestion: AccessLogIngestion, events: list[ParsedEvent]) -> int:
    # SQLite has one writer at a time and this runs inside the batch's transaction: the rows of
    # this ingestion above the highest id seen before are exactly those this insert added.
    before = SignInEvent.objects.filter(ingestion=ingestion).aggregate(top=Max("id"))["top"] or 0
    SignInEvent.objects.bulk_create(
        [
            SignInEvent(
                target_system_id=ingestion.target_system_id,
                ingestion=ingestion,
                **{column: getattr(event, column) for column in _COLUMNS},
            )
            for event in events
        ],
        batch_size=500,
        ignore_conflicts=True,
    )
    return SignInEvent.objects.filter(Q(ingestion=ingestion) & Q(id__gt=before)).count()


# The sweeper ----------------------------------------------------------------------------------


def access_log_ingestions_resend(*, now: datetime | None = None) -> int:
    """Send again the ingestions a down broker or a dead worker left: queued for more than
    ACCESS_LOG_RESEND_AFTER_SECONDS, or running with no progress for ACCESS_LOG_STALL_SECONDS."""
    now = now or timezone.now()
    queued_before = now - timedelta(seconds=settings.ACCESS_LOG_RESEND_AFTER_SECONDS)
    stalled_before = now - timedelta(seconds=settings.ACCESS_LOG_STALL_SECONDS)
    stale = AccessLogIngestion.objects.filter(
        Q(status=IngestionStatus.QUEUED, created_at__lt=queued_before)
        | Q(status=IngestionStatus.RUNNING, progressed_at__lt=stalled_before)
        | Q(status=IngestionStatus.RUNNING, progressed_at__isnull=True)
    ).values_list("pk", flat=True)
    sent = 0
    for pk in list(stale[:1000]):
        sent += enqueue(INGEST_TASK, pk)
    return sent


def access_log_files_remove_left() -> int:
    """Remove the files of finished ingestions that are still stored: a process killed between
    an ingestion's commit and its file's removal left them (the row naming the file is the
    record of that work). Answers how many were removed."""
    left = AccessLogIngestion.objects.filter(
        status__in=[IngestionStatus.DONE, IngestionStatus.FAILED]
    ).exclude(file="")
    removed = 0
    for ingestion in left.order_by("pk")[:1000]:
        _remove_file(ingestion)
        removed += 1
    return removed
