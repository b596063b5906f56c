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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any, BinaryIO, cast
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.files import File
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance.access_logs import parsers
from compliance.access_logs.parsers import (
    CsvColumns,
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
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
        if ingestion.format == AccessLogFormat.CSV and connection.vendor == "postgresql":
            _read_csv_in_sql(ingestion, binary, progress, count)
            return
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
    """Store parsed items in batches of ACCESS_LOG_BATCH_LINES (or BATCH_BYTES)."""
    limit, events, batch_bytes = batch_lines(), [], 0
    malformed: list[Malformed] = []
    for item in items:
        if isinstance(item, Malformed):
            malformed.append(item)
        else:
            events.append(item)
            batch_bytes += len(item.raw_line)
        if len(events) + len(malformed) >= limit or batch_bytes >= BATCH_BYTES:
            progress.store(events, malformed, count.lines)
            events, malformed, batch_bytes = [], [], 0
    progress.store(events, malformed, count.lines)


@dataclass(frozen=True)
class _CsvReading:
    """One CSV file's reading: its header and how SQL reads its records."""

    header: list[str]
    spec: MappingSpec
    zone: ZoneInfo
    columns: CsvColumns
    target_code: str

    def item(self, number: int, text: str) -> Item | None:
        return parsers.csv_item(number, text, self.header, self.spec, self.zone, self.target_code)


@dataclass(frozen=True)
class RawLines:
    """A batch of a CSV file's lines as read, numbered from `first`; a line that could not be
    read (too long, NUL, not UTF-8) is an empty string here and a Malformed beside it."""

    first: int
    texts: list[str]
    reading: _CsvReading


def _read_csv_in_sql(
    ingestion: AccessLogIngestion, file: BinaryIO, progress: "_Progress", count: LineCount
) -> None:
    """PostgreSQL: Python only cuts the file into lines (bounded, as parsers.read_lines does)
    and COPYs each batch of them as they are into a staging table; one statement then parses,
    checks, fingerprints and inserts the records there (`_PARSE_SQL`). The few records it does
    not read exactly as `parsers.csv_item` would (quoted fields, other time shapes, non-ASCII
    values, IPv6 addresses...) and the malformed ones come back and go through csv_item."""
    spec = mapping_spec(ingestion.target_system)
    code = ingestion.target_system.code
    parsers.check_text(file)
    zone = spec.zone
    lines = parsers.read_lines(file, count)
    header: list[str] | None = None
    for _number, text, reason in lines:
        if text is None:
            raise FileRefused(_("The header line cannot be read: %(r)s.") % {"r": reason})
        if text.strip():
            header = parsers.csv_header(text, spec)
            break
    if header is None:
        progress.store([], [], count.lines)
        return
    columns = parsers.csv_columns(spec, header, zone)
    if columns is None:  # a mapping only Python reads
        items = (
            Malformed(number, reason)
            if text is None
            else parsers.csv_item(number, text, header, spec, zone, code)
            for number, text, reason in lines
        )
        _store_items((item for item in items if item is not None), progress, count)
        return
    reading = _CsvReading(header, spec, zone, columns, code)
    limit = batch_lines()
    texts: list[str] = []
    malformed: list[Malformed] = []
    first = size = 0
    for number, text, reason in lines:
        if not texts:
            first = number
        if text is None:
            malformed.append(Malformed(number, reason))
            texts.append("")
        else:
            texts.append(text)
            size += len(text)
        if len(texts) >= limit or size >= BATCH_BYTES:
            progress.store(RawLines(first, texts, reading), malformed, count.lines)
            texts, malformed, size = [], [], 0
    progress.store(RawLines(first, texts, reading), malformed, count.lines)


class _Progress:
    """The running counts of one reading, saved with each batch."""

    def __init__(self, ingestion: AccessLogIngestion):
        self.ingestion = ingestion
        self.accepted = self.duplicates = self.malformed = 0
        self.problems: list[dict[str, Any]] = []
        self.seen = ingestion.progressed_at

    def store(
        self, events: list[ParsedEvent] | RawLines, malformed: list[Malformed], lines: int
    ) -> None:
        now = timezone.now()
        with transaction.atomic():
            if isinstance(events, RawLines):
                offered, inserted, more = store_raw_csv(self.ingestion, events)
                if more:
                    malformed = sorted([*malformed, *more], key=lambda bad: bad.line_number)
            else:
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


# The records of a staging batch that SQL reads exactly as parsers.csv_item does: fields without
# quotes; an ISO 8601 time (with Z, an offset, or none and a zone of fixed offset) of a year in
# parsers.SQL_YEARS; login ID, result and host in printable ASCII without spaces; a canonical
# IPv4 address, or none. Every other non-empty line comes back by number (`rejected`) for
# csv_item to read or call malformed. The time's shape is checked with its digits translated to
# 0 (a regular expression costs ten times as much per line), its parts read at fixed places.
_DIGITS = "translate({}, '0123456789', '0000000000')"
_TIME_SHAPES = ["0000-00-00T00:00:00", "0000-00-00 00:00:00"]
_TIME_TAILS = [
    fraction + zone
    for fraction in ["", *("." + "0" * k for k in range(1, 7))]
    for zone in ("", "Z", "+00:00", "-00:00")
]
_ZONE = (
    "CASE WHEN right(shape, 1) = 'Z' THEN 'Z'"
    " WHEN right(shape, 6) IN ('+00:00', '-00:00') THEN right(t, 6) END"
)
_YEAR, _MONTH, _DAY = "substr(t, 1, 4)::int", "substr(t, 6, 2)::int", "substr(t, 9, 2)::int"
_HOUR, _MINUTE, _SECOND = "substr(t, 12, 2)::int", "substr(t, 15, 2)::int", "substr(t, 18, 2)::int"
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_PATTERN = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"
# Only the module's own constants are formatted in; every value is a parameter.
_PARSE_SQL = f"""
WITH split AS MATERIALIZED (
    SELECT n, raw, cardinality(f) = %(fields)s AS counted, f[%(time)s] AS t,
        {_DIGITS.format("f[%(time)s]")} AS shape,
        f[%(login_id)s] AS l, lower(f[%(result)s] COLLATE "C") AS r,
        coalesce(f[%(host)s], '') AS h, f[%(address)s] AS a
    FROM (
        SELECT n, raw,
            CASE WHEN raw <> '' AND strpos(raw, '"') = 0 THEN string_to_array(raw, ',') END AS f
        FROM access_log_raw
        OFFSET 0
    ) lines
), zoned AS MATERIALIZED (
    SELECT n, raw, t, l, r, h, a,
        counted AND left(shape, 19) = ANY(%(shapes)s::text[])
        AND substr(shape, 20) = ANY(%(tails)s::text[]) AS shaped,
        {_ZONE} AS zone
    FROM split
), judged AS MATERIALIZED (
    SELECT n, raw, t, l, r, h, a, zone,
        CASE
            WHEN shaped IS NOT TRUE THEN false
            WHEN {_YEAR} NOT BETWEEN %(year_from)s AND %(year_to)s THEN false
            WHEN zone IS NULL AND (%(fixed_offset)s::int IS NULL
                                   OR {_YEAR} NOT BETWEEN %(fixed_from)s AND %(fixed_to)s)
                THEN false
            WHEN {_MONTH} NOT BETWEEN 1 AND 12 OR {_DAY} < 1 OR {_HOUR} > 23 OR {_MINUTE} > 59
                OR {_SECOND} > 59 THEN false
            WHEN zone IS NOT NULL AND zone <> 'Z'
                AND (substr(zone, 2, 2)::int > 23 OR substr(zone, 5, 2)::int > 59) THEN false
            WHEN {_DAY} > extract(day FROM make_date({_YEAR}, {_MONTH}, 1)
                                          + interval '1 month - 1 day') THEN false
            WHEN l ~ '[^!-~]' OR l = '' OR length(l) > 64 THEN false
            WHEN r ~ '[^!-~]' OR NOT r = ANY(%(values)s::text[]) THEN false
            WHEN h ~ '[^!-~]' OR length(h) > 255 THEN false
            WHEN a IS NOT NULL AND a NOT IN ('', '-') AND a !~ %(ipv4_pattern)s THEN false
            ELSE true
        END AS ok
    FROM zoned
), inserted AS (
    INSERT INTO {{table}} (target_system_id, ingestion_id, received_at, occurred_at, login_id,
                           result, source_host, source_address, line_number, raw_line,
                           fingerprint)
    SELECT %(target)s, %(ingestion)s, now(),
        (make_timestamp({_YEAR}, {_MONTH}, {_DAY}, {_HOUR}, {_MINUTE}, {_SECOND})
         + CASE WHEN substr(t, 20, 1) = '.'
                THEN rpad(substr(t, 21, length(t) - 20 - coalesce(length(zone), 0)), 6, '0')::int
                ELSE 0 END * interval '1 microsecond'
         - CASE WHEN zone IS NULL THEN %(fixed_offset)s::int
                WHEN zone = 'Z' THEN 0
                ELSE (CASE left(zone, 1) WHEN '-' THEN -1 ELSE 1 END)
                     * (substr(zone, 2, 2)::int * 3600 + substr(zone, 5, 2)::int * 60)
           END * interval '1 second') AT TIME ZONE 'UTC',
        CASE WHEN %(prefix)s <> ''
                  AND lower(left(l, length(%(prefix)s)) COLLATE "C") = lower(%(prefix)s COLLATE "C")
             THEN %(prefix)s || lower(substr(l, length(%(prefix)s) + 1) COLLATE "C")
             ELSE lower(l COLLATE "C")
        END,
        CASE WHEN r = ANY(%(success)s::text[]) THEN 'success' ELSE 'failure' END,
        CASE WHEN h = '-' THEN '' ELSE lower(h COLLATE "C") END,
        CASE WHEN a IS NULL OR a IN ('', '-') THEN NULL ELSE a::inet END,
        %(first)s + n - 1, raw,
        encode(sha256(convert_to(%(code)s || chr(10) || raw, 'UTF8')), 'hex')
    FROM judged
    WHERE ok
    ON CONFLICT (target_system_id, fingerprint) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM judged WHERE ok),
    ARRAY(SELECT n FROM judged WHERE NOT ok AND raw <> '' ORDER BY n)
"""  # noqa: S608


def _copy_text(texts: list[str]) -> str:
    """The lines as COPY's text format reads them: one column, one row a line."""
    data = "\n".join(texts)
    for char, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\r", "\\r")):
        if char in data:
            data = data.replace(char, escaped)
    return data + "\n"


def store_raw_csv(
    ingestion: AccessLogIngestion, batch: RawLines
) -> tuple[int, int, list[Malformed]]:
    """COPY a batch of CSV lines into the staging table, parse and insert its records in one
    statement, and read the lines it left through csv_item. Answers the records offered, those
    inserted (the rest were duplicates) and the malformed ones."""
    if not batch.texts:
        return 0, 0, []
    columns, reading = batch.reading.columns, batch.reading
    table = connection.ops.quote_name(SignInEvent._meta.db_table)
    with connection.cursor() as cursor:
        # A temporary table lives as long as the connection; emptied before each batch, its
        # serial numbering the batch's lines from 1 in the order COPY reads them.
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS access_log_raw (n serial, raw text NOT NULL)"
        )
        cursor.execute("TRUNCATE access_log_raw RESTART IDENTITY")
        with cursor.cursor.copy("COPY access_log_raw (raw) FROM STDIN") as copy:
            copy.write(_copy_text(batch.texts))
        cursor.execute(
            _PARSE_SQL.replace("{table}", table),
            {
                "target": ingestion.target_system_id,
                "ingestion": ingestion.pk,
                "code": reading.target_code,
                "first": batch.first,
                "fields": columns.fields,
                "time": columns.time,
                "login_id": columns.login_id,
                "result": columns.result,
                "host": columns.host,
                "address": columns.address,
                "prefix": columns.login_id_prefix,
                "success": list(columns.success_values),
                "values": [*columns.success_values, *columns.failure_values],
                "fixed_offset": columns.fixed_offset,
                "year_from": parsers.SQL_YEARS[0],
                "year_to": parsers.SQL_YEARS[1],
                "fixed_from": parsers.FIXED_YEARS[0],
                "fixed_to": parsers.FIXED_YEARS[1],
                "shapes": _TIME_SHAPES,
                "tails": _TIME_TAILS,
                "ipv4_pattern": _IPV4_PATTERN,
            },
        )
        inserted, offered, rejected = cursor.fetchone()
    events: list[ParsedEvent] = []
    malformed: list[Malformed] = []
    for n in rejected:
        item = reading.item(batch.first + n - 1, batch.texts[n - 1])
        if isinstance(item, ParsedEvent):
            events.append(item)
        elif item is not None:
            malformed.append(item)
    if events:
        inserted += _store_postgresql(ingestion, events)
        offered += len(events)
    return offered, inserted, malformed


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
