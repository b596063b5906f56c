"""Stock-takes (棚卸し・現品照合): open with a snapshot, scan, close into discrepancies, review;
and the discrepancies that lending reports through its hooks (a card not returned).

One function per transition, each writing its audit event in the same transaction."""

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance.models import (
    Discrepancy,
    DiscrepancyEvidence,
    DiscrepancyKind,
    DiscrepancyOutcome,
    Scan,
    ScanResult,
    StockTake,
    StockTakeExpectation,
    StockTakeReason,
    StockTakeStatus,
)
from compliance.selectors import REVIEW_PERMISSION
from core.audit import record_event
from core.emails import bilingual
from core.errors import InvalidInput, RuleViolation
from core.identifiers import normalise_identifier
from core.models import User
from core.selectors import emails_of_users_holding
from core.transitions import check_transition
from credentials.accounts import account_delete
from credentials.models import TargetSystem
from credentials.rotation import rotation_request
from credentials.targets import connector_for
from lending.models import Declaration, Loan
from terminals import services as inventory
from terminals.models import AccessCard, Location, Terminal

Status = Terminal.Status
# Statuses in which a terminal should physically be at its recorded location.
PRESENT_STATUSES = (Status.IN_STORAGE, Status.RESERVED, Status.RETURNED, Status.MAINTENANCE)


# Opening --------------------------------------------------------------------------------------


def stocktake_open(
    *,
    site: Location,
    actor: User | None,
    reason: str,
    blind: bool = True,
    due_days: int | None = None,
    now=None,
) -> StockTake:
    """Open a stock-take of a site with a snapshot of what the inventory expects where."""
    if site.kind != Location.Kind.SITE:
        raise InvalidInput(
            _("The stock-take was not opened."), field_errors={"site": [_("Choose a site.")]}
        )
    now = now or timezone.now()
    try:
        with transaction.atomic():
            stocktake = StockTake.objects.create(
                site=site,
                reason=reason,
                blind=blind,
                opened_at=now,
                opened_by=actor,
                due_at=now + timedelta(days=due_days or settings.STOCKTAKE_DUE_DAYS),
            )
            terminals = (
                Terminal.objects.filter(location__path__startswith=site.path)
                .exclude(status=Status.RETIRED)
                .values_list("pk", "location_id", "status")
            )
            StockTakeExpectation.objects.bulk_create(
                (
                    StockTakeExpectation(
                        stocktake=stocktake, terminal_id=pk, location_id=loc, status=st
                    )
                    for pk, loc, st in terminals.iterator(chunk_size=5000)
                ),
                batch_size=5000,
            )
            record_event(
                actor=actor,
                action="stocktake.opened",
                obj=stocktake,
                details={
                    "site": site.code,
                    "reason": reason,
                    "blind": blind,
                    "expected": stocktake.expectations.count(),
                },
            )
    except IntegrityError as exc:
        raise RuleViolation(
            _("A stock-take of %(site)s is already open.") % {"site": site.name}
        ) from exc
    return stocktake


def stocktakes_open_due(*, now=None) -> list[StockTake]:
    """The scheduler's job: open a stock-take for every site whose interval has passed since its
    last one opened, and that has none open. Safe to run twice: the second run opens nothing."""
    now = now or timezone.now()
    opened = []
    sites = Location.objects.filter(kind=Location.Kind.SITE).annotate(
        last_opened=Max("stocktakes__opened_at"),
        open_count=Count("stocktakes", filter=Q(stocktakes__status=StockTakeStatus.OPEN)),
    )
    for site in sites:
        if site.open_count:
            continue
        if site.last_opened and now - site.last_opened < timedelta(
            days=site.stocktake_interval_days
        ):
            continue
        try:
            opened.append(
                stocktake_open(site=site, actor=None, reason=StockTakeReason.SCHEDULED, now=now)
            )
        except RuleViolation:
            continue  # another scheduler run opened it a moment ago
    return opened


# Scanning -------------------------------------------------------------------------------------
#
# A scan is the hot path of a stock-take: staff scan in parallel, one tag per request. It reads
# the terminal and its expectation (one query), inserts the scan only while the stock-take is
# open (one conditional INSERT ... SELECT), and writes its audit event: three statements; four
# for a tag already counted at that place (the INSERT conflicts and is redone as a repeat).
#
# Concurrent scanners do not wait for each other: the INSERT takes a FOR KEY SHARE lock on the
# stock-take's row, which every other scan shares (and the reminders' UPDATE of its dates does
# not conflict with). Closing takes FOR UPDATE on that row, which conflicts with it: closing
# waits until every scan already in flight has committed, and reads them all; a scan that
# arrives after closing took its lock waits for closing to commit, then finds the stock-take
# closed and is refused (RuleViolation, nothing written). So a scan is either in the close or
# refused, never lost. On SQLite one transaction writes at a time, which gives the same order.
#
# Duplicates are decided by the unique index `scan_once_per_location` (a terminal counted once
# per location while not undone), not by a lock: the second of two simultaneous reads conflicts,
# inserts nothing, and is recorded as "already scanned here".

SCAN_BATCH_MAX = 500  # tags in one batch request: a scanner's buffer, not an import
TAG_MAX_LENGTH = 64  # Scan.tag's, after normalising (NFKC may lengthen a tag)
_COUNTED_ONCE = (
    ScanResult.EXPECTED_HERE,
    ScanResult.BELONGS_ELSEWHERE,
    ScanResult.RECORDED_AS_LENT,
)  # the results the unique index covers (a repeat or an unknown tag may recur)


def _clean_tag(tag: str) -> str:
    tag = normalise_identifier(tag)
    if not tag:
        raise InvalidInput(
            _("Nothing was scanned."), field_errors={"tag": [_("Scan or type an asset tag.")]}
        )
    if len(tag) > TAG_MAX_LENGTH:
        raise InvalidInput(
            _("Nothing was scanned."),
            field_errors={"tag": [_("An asset tag has at most 64 characters.")]},
        )
    return tag


def _check_location(stocktake: StockTake, location: Location) -> None:
    # Every location knows its site (a site is its own): no query.
    if location.site_id != stocktake.site_id:
        raise InvalidInput(
            _("Nothing was scanned."),
            field_errors={"location": [_("This location is not on the stock-take's site.")]},
        )


def _terminals_read(stocktake: StockTake, tags: Iterable[str]) -> dict[str, Terminal]:
    """The terminals of these tags, each with what the snapshot expected of it: one query, in
    SQL rather than the ORM, whose compiling cost a scan more than running it."""
    tags = sorted(set(tags))
    terminals = Terminal.objects.raw(
        f"SELECT t.*, e.location_id AS expected_location, e.status AS expected_status "  # noqa: S608
        f"FROM {Terminal._meta.db_table} t LEFT JOIN {StockTakeExpectation._meta.db_table} e "
        "ON e.stocktake_id = %s AND e.terminal_id = t.id "
        f"WHERE t.asset_tag IN ({', '.join(['%s'] * len(tags))})",
        [stocktake.pk, *tags],
    )
    return {terminal.asset_tag: terminal for terminal in terminals}


def _result(terminal: Terminal | None, location: Location) -> str:
    if terminal is None:
        return ScanResult.UNKNOWN
    if terminal.expected_status in (Status.LENT, Status.LOST):  # type: ignore[attr-defined]
        return ScanResult.RECORDED_AS_LENT
    if terminal.expected_location == location.pk:  # type: ignore[attr-defined]
        return ScanResult.EXPECTED_HERE
    return ScanResult.BELONGS_ELSEWHERE


def _insert_scans(stocktake: StockTake, scans: list[Scan]) -> list[Scan]:
    """Insert the scans while the stock-take is open, in one statement; return those inserted
    with their ids. A scan the unique index refuses (someone else counted it here a moment ago)
    is left out; all are left out when the stock-take is no longer open."""
    if not scans:
        return []
    table = Scan._meta.db_table
    value = "(CAST(%s AS BIGINT), %s, CAST(%s AS BIGINT), %s, CAST(%s AS BIGINT), %s)"
    # VALUES columns are named column1, column2, ... on PostgreSQL and SQLite alike.
    lock = " FOR KEY SHARE OF st" if connection.vendor == "postgresql" else ""
    sql = (
        f"INSERT INTO {table} (location_id, tag, terminal_id, result, scanned_by_id, "  # noqa: S608
        "stocktake_id, scanned_at) "
        "SELECT v.column1, v.column2, v.column3, v.column4, v.column5, st.id, %s "
        f"FROM (VALUES {', '.join([value] * len(scans))}) v, {StockTake._meta.db_table} st "
        f"WHERE st.id = %s AND st.status = %s ORDER BY v.column6{lock} "
        "ON CONFLICT DO NOTHING RETURNING id, terminal_id, tag, result"
    )
    now = scans[0].scanned_at
    params: list = [connection.ops.adapt_datetimefield_value(now)]
    for n, scan in enumerate(scans):
        params += [scan.location_id, scan.tag, scan.terminal_id, scan.result, scan.scanned_by_id, n]
    params += [stocktake.pk, StockTakeStatus.OPEN]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        returned = cursor.fetchall()
    # Ids follow the order read (ORDER BY), so "undo my last scan" undoes the last of a batch.
    # RETURNING promises no order: rows with the same terminal, tag and result are alike (same
    # place, same person, same moment), so their ids go to them in order.
    ids: dict[tuple, list[int]] = defaultdict(list)
    for pk, terminal_id, tag, result in sorted(returned):
        ids[(terminal_id, tag, result)].append(pk)
    inserted = []
    for scan in scans:
        taken = ids.get((scan.terminal_id, scan.tag, scan.result))
        if taken:
            scan.pk = taken.pop(0)
            scan._state.adding, scan._state.db = False, connection.alias
            inserted.append(scan)
    return inserted


def _scan_batch(
    stocktake: StockTake, location: Location, tags: list[str], actor: User
) -> list[Scan]:
    """Record tags read one after the other at one location, in order. Each is its own scan
    with its own result and audit event; the same tag twice is "already scanned here"."""
    terminals = _terminals_read(stocktake, tags)
    now = timezone.now()
    scans, counted = [], set()
    for tag in tags:
        terminal = terminals.get(tag)
        result = _result(terminal, location)
        if terminal is not None and terminal.pk in counted:
            result = ScanResult.REPEATED
        elif terminal is not None:
            counted.add(terminal.pk)
        scans.append(
            Scan(
                stocktake=stocktake, location=location, tag=tag, terminal=terminal,
                result=result, scanned_by=actor, scanned_at=now,
            )
        )  # fmt: skip
    inserted = {id(scan) for scan in _insert_scans(stocktake, scans)}
    # Not inserted: already counted here (the unique index) or the stock-take closed. Once more
    # as repeats, which the index does not cover: none go in only when it is closed.
    refused = [scan for scan in scans if id(scan) not in inserted]
    for scan in refused:
        if scan.result not in _COUNTED_ONCE:
            raise RuleViolation(_("This stock-take is closed: no more scans."))
        scan.result = ScanResult.REPEATED
    if refused and len(_insert_scans(stocktake, refused)) < len(refused):
        raise RuleViolation(_("This stock-take is closed: no more scans."))
    for scan in scans:
        record_event(
            actor=actor,
            action="stocktake.scanned",
            obj=stocktake,
            details={"tag": scan.tag, "location": location.code, "result": scan.result},
        )
    return scans


@transaction.atomic
def scan_record(*, stocktake: StockTake, location: Location, tag: str, actor: User) -> Scan:
    """Record one read tag at a location and say at once what it means. A terminal found at
    another location is reported, not moved."""
    tag = _clean_tag(tag)
    _check_location(stocktake, location)
    return _scan_batch(stocktake, location, [tag], actor)[0]


@transaction.atomic
def scan_record_batch(
    *, stocktake: StockTake, location: Location, tags: list[str], actor: User
) -> list[Scan]:
    """Record a list of tags read at one location (a scanner that buffers its reads), in the
    order read: one scan, one result and one audit event each, as if sent one by one. Blank
    entries are skipped; all or nothing: a closed stock-take or a bad tag records none."""
    cleaned, problems = [], []
    for n, tag in enumerate(tags, start=1):
        if not normalise_identifier(tag):
            continue
        try:
            cleaned.append(_clean_tag(tag))
        except InvalidInput:
            problems.append(
                _("Line %(line)d: an asset tag has at most 64 characters.") % {"line": n}
            )
    if not cleaned and not problems:
        problems.append(_("Scan or type at least one asset tag."))
    if len(cleaned) > SCAN_BATCH_MAX:
        problems.append(_("At most %(limit)d tags at a time.") % {"limit": SCAN_BATCH_MAX})
    if problems:
        raise InvalidInput(_("Nothing was scanned."), field_errors={"tags": problems})
    _check_location(stocktake, location)
    return _scan_batch(stocktake, location, cleaned, actor)


def _lock_open(stocktake: StockTake) -> None:
    """Refuse unless the stock-take is open, and keep it open until this transaction ends (a
    lock that every scan shares and closing waits for; see Scanning above)."""
    lock = " FOR KEY SHARE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT status FROM {StockTake._meta.db_table} WHERE id = %s{lock}",  # noqa: S608
            [stocktake.pk],
        )
        row = cursor.fetchone()
    if row is None or row[0] != StockTakeStatus.OPEN:
        raise RuleViolation(_("This stock-take is closed: no more scans."))


@transaction.atomic
def scan_undo_last(*, stocktake: StockTake, actor: User) -> Scan | None:
    """Undo this person's last scan in this stock-take (a mistaken read)."""
    _lock_open(stocktake)
    scan = (
        Scan.objects.select_for_update(of=("self",))
        .select_related("location")
        .filter(stocktake=stocktake, scanned_by=actor, undone_at__isnull=True)
        .order_by("-scanned_at", "-id")
        .first()
    )
    if scan is None:
        return None
    scan.undone_at = timezone.now()
    scan.save(update_fields=["undone_at"])
    record_event(
        actor=actor,
        action="stocktake.scan_undone",
        obj=stocktake,
        details={"tag": scan.tag, "location": scan.location.code},
    )
    return scan


# Closing --------------------------------------------------------------------------------------
#
# Closing compares the snapshot with the scans in the database itself, in one INSERT ... SELECT
# of every discrepancy: its statements do not grow with the site (a site holds 100,000
# terminals; bench/stocktake.py). "judged" is each terminal read (scans not undone) that may be
# a discrepancy, with where it was read first (the lowest location id, where it counts as
# found) and last, and what the snapshot said of it; a terminal read once where it was
# expected is left out at once, so the kinds below read a few rows, not the whole site. Whether
# the expected place is among those read is only looked up for terminals read at several.

_JUDGED = """WITH judged AS (
    SELECT seen.terminal_id, seen.found_at, seen.found_last, e.id AS expectation, e.status,
        e.location_id AS recorded_at
    FROM (
        SELECT terminal_id, MIN(location_id) AS found_at, MAX(location_id) AS found_last
        FROM {scan}
        WHERE stocktake_id = %s AND undone_at IS NULL AND terminal_id IS NOT NULL
        GROUP BY terminal_id
    ) seen LEFT JOIN {expectation} e
        ON e.stocktake_id = %s AND e.terminal_id = seen.terminal_id
    WHERE seen.found_at <> seen.found_last OR e.id IS NULL OR e.status IN ({away})
        OR e.location_id <> seen.found_at
)"""

# Each kind's rows: (kind, tag, location, terminal, details); the tag of an unknown one, else
# NULL: the subject is then the terminal's tag, joined once for all kinds. Each %s is the id.
_FINDINGS_SQL = {
    # Expected to be here (not lent, lost or retired) and read nowhere.
    DiscrepancyKind.MISSING: """
        SELECT {kind} AS kind, CAST(NULL AS TEXT) AS tag, e.location_id, e.terminal_id,
            {empty} AS details
        FROM {expectation} e
        WHERE e.stocktake_id = %s AND e.status IN ({present})
            AND NOT EXISTS (
                SELECT 1 FROM {scan} s WHERE s.stocktake_id = e.stocktake_id
                AND s.terminal_id = e.terminal_id AND s.undone_at IS NULL
            )""",
    DiscrepancyKind.SCANNED_TWICE: """
        SELECT {kind}, NULL, CAST(NULL AS BIGINT), judged.terminal_id, {locations}
        FROM judged WHERE judged.found_at <> judged.found_last""",
    DiscrepancyKind.FOUND_BUT_LENT: """
        SELECT {kind}, NULL, judged.found_at, judged.terminal_id, {recorded_status}
        FROM judged WHERE judged.status IN ({away})""",
    # Read, not lent or lost, and never where the snapshot put it (or not in the snapshot).
    DiscrepancyKind.FOUND_ELSEWHERE: """
        SELECT {kind}, NULL, judged.found_at, judged.terminal_id, {recorded_location}
        FROM judged
        WHERE judged.expectation IS NULL OR (
            judged.status NOT IN ({away}) AND judged.recorded_at <> judged.found_at AND (
                judged.found_at = judged.found_last OR (
                    SELECT 1 FROM {scan} s WHERE s.stocktake_id = %s
                    AND s.terminal_id = judged.terminal_id
                    AND s.location_id = judged.recorded_at AND s.undone_at IS NULL LIMIT 1
                ) IS NULL
            )
        )""",
    # Each unknown tag once, where it was read last.
    DiscrepancyKind.UNKNOWN_TAG: """
        SELECT {kind}, s.tag, s.location_id, CAST(NULL AS BIGINT), {empty}
        FROM {scan} s JOIN (
            SELECT MAX(id) AS id FROM {scan}
            WHERE stocktake_id = %s AND terminal_id IS NULL AND undone_at IS NULL GROUP BY tag
        ) last_read ON last_read.id = s.id""",
}


def _json_sql() -> dict[str, str]:
    """The details of each kind, built by the database in its own JSON dialect."""
    scan = Scan._meta.db_table
    places = (
        f"SELECT DISTINCT location_id AS l FROM {scan} WHERE stocktake_id = %s "  # noqa: S608
        "AND terminal_id = judged.terminal_id AND undone_at IS NULL"
    )
    if connection.vendor == "postgresql":
        return {
            "empty": "'{}'::jsonb",
            "locations": "jsonb_build_object('locations', "  # noqa: S608
            f"(SELECT jsonb_agg(l ORDER BY l) FROM ({places}) p))",
            "recorded_status": "jsonb_build_object('recorded_status', judged.status)",
            "recorded_location": "jsonb_build_object('recorded_location', judged.recorded_at)",
        }
    return {
        "empty": "'{}'",
        "locations": "json_object('locations', "  # noqa: S608
        f"json((SELECT json_group_array(l) FROM ({places} ORDER BY l))))",
        "recorded_status": "json_object('recorded_status', judged.status)",
        "recorded_location": "json_object('recorded_location', judged.recorded_at)",
    }


def _findings_sql() -> tuple[str, str]:
    """The CTEs and every kind's rows with their subject, as SQL; each %s is the id."""

    def quoted(values) -> str:
        return ", ".join(f"'{value}'" for value in values)  # our own constants, never input

    names = {
        "scan": Scan._meta.db_table,
        "expectation": StockTakeExpectation._meta.db_table,
        "terminal": Terminal._meta.db_table,
        "present": quoted(PRESENT_STATUSES),
        "away": quoted((Status.LENT, Status.LOST)),
        **_json_sql(),
    }
    union = " UNION ALL ".join(
        select.format(kind=f"'{kind}'", **names) for kind, select in _FINDINGS_SQL.items()
    )
    # Scalar subqueries, not joins: PostgreSQL then looks up the few rows that need it by
    # index, instead of hashing the whole scan or terminal table for them.
    rows = (
        f"SELECT f.kind, COALESCE(f.tag, (SELECT asset_tag FROM {names['terminal']} t "  # noqa: S608
        "WHERE t.id = f.terminal_id)) AS subject, f.location_id, f.terminal_id, f.details "
        f"FROM ({union}) f"
    )
    return _JUDGED.format(**names), rows


def _without_jit(cursor) -> None:
    """PostgreSQL's estimate of the correlated parts (per terminal read at two places) is far
    too high, and makes it compile the query first (JIT): 0.7 s of a 1 s close, for a query that
    runs in 0.25 s. For this transaction only."""
    if connection.vendor == "postgresql":
        cursor.execute("SET LOCAL jit = off")


@transaction.atomic
def stocktake_findings_count(stocktake: StockTake) -> dict[str, int]:
    """What closing would record now, per kind (the kinds with none left out)."""
    ctes, rows = _findings_sql()
    sql = f"{ctes} SELECT f.kind, COUNT(*) FROM ({rows}) f GROUP BY f.kind"  # noqa: S608
    with connection.cursor() as cursor:
        _without_jit(cursor)
        cursor.execute(sql, [stocktake.pk] * sql.count("%s"))
        return {str(kind): n for kind, n in cursor.fetchall()}


def _record_findings(stocktake: StockTake, now) -> dict[str, int]:
    """Insert every discrepancy of the stock-take in one statement; how many per kind."""
    ctes, rows = _findings_sql()
    sql = (
        f"{ctes} INSERT INTO {Discrepancy._meta.db_table} (kind, subject, location_id, "  # noqa: S608
        "terminal_id, details, status, stocktake_id, opened_at, outcome, resolution_note) "
        f"SELECT f.*, %s, %s, %s, '', '' FROM ({rows}) f"
    )
    params = [
        *[stocktake.pk] * ctes.count("%s"),
        Discrepancy.Status.OPEN,
        stocktake.pk,
        connection.ops.adapt_datetimefield_value(now),
        *[stocktake.pk] * rows.count("%s"),
    ]
    with connection.cursor() as cursor:
        _without_jit(cursor)
        cursor.execute(sql, params)
    return dict(
        Discrepancy.objects.filter(stocktake=stocktake)
        .order_by()
        .values_list("kind")
        .annotate(n=Count("id"))
        .values_list("kind", "n")
    )


@transaction.atomic
def stocktake_close(*, stocktake: StockTake, actor: User) -> StockTake:
    """Close the count into discrepancies. The lock waits for every scan in flight and turns
    later ones away (see Scanning), so what closing reads is every scan there will be."""
    stocktake = StockTake.objects.select_for_update(of=("self",)).get(pk=stocktake.pk)
    check_transition(stocktake, StockTakeStatus.CLOSED)
    now = timezone.now()
    counts = _record_findings(stocktake, now)
    stocktake.status, stocktake.closed_at, stocktake.closed_by = (
        StockTakeStatus.CLOSED,
        now,
        actor,
    )
    fields = ["status", "closed_at", "closed_by"]
    if not counts:
        stocktake.status, stocktake.completed_at = StockTakeStatus.COMPLETED, stocktake.closed_at
        fields.append("completed_at")
    stocktake.save(update_fields=fields)
    record_event(
        actor=actor,
        action="stocktake.closed",
        obj=stocktake,
        details={"discrepancies": counts},
    )
    return stocktake


def stocktake_summary(stocktake: StockTake) -> dict:
    """Counts per location, parents rolling up their children, and per kind: the site's own
    row, so the totals and the table can never disagree. A finding of no one location (a tag
    scanned at two) counts at the site."""
    own: dict[int, Counter] = defaultdict(Counter)
    for kind, location_id in stocktake.discrepancies.values_list("kind", "location_id"):
        own[location_id or stocktake.site_id][kind] += 1
    locations = list(Location.objects.filter(path__startswith=stocktake.site.path).order_by("path"))
    rolled: dict[int, Counter] = defaultdict(Counter)
    for location in locations:
        for ancestor in location.path.strip("/").split("/"):
            rolled[int(ancestor)].update(own.get(location.pk, Counter()))
    return {
        "per_kind": dict(rolled[stocktake.site_id]),
        "per_location": [(location, dict(rolled[location.pk])) for location in locations],
    }


def stocktake_progress(stocktake: StockTake) -> dict:
    """Found / expected per location and in all, counting each expected terminal once."""
    expected = Counter(
        dict(
            StockTakeExpectation.objects.filter(stocktake=stocktake, status__in=PRESENT_STATUSES)
            .values_list("location")
            .annotate(n=Count("id"))
            .values_list("location", "n")
        )
    )
    found = Counter(
        dict(
            Scan.objects.filter(
                stocktake=stocktake, undone_at__isnull=True, result=ScanResult.EXPECTED_HERE
            )
            .values_list("location")
            .annotate(n=Count("terminal", distinct=True))
            .values_list("location", "n")
        )
    )
    return {
        "per_location": {pk: (found.get(pk, 0), n) for pk, n in expected.items()},
        "found": sum(found.values()),
        "expected": sum(expected.values()),
    }


# Review ---------------------------------------------------------------------------------------

_OUTCOMES_BY_KIND: dict[str, set[DiscrepancyOutcome]] = {
    DiscrepancyKind.MISSING: {
        DiscrepancyOutcome.FOUND,
        DiscrepancyOutcome.LOST_OR_STOLEN,
        DiscrepancyOutcome.WRITTEN_OFF,
    },
    DiscrepancyKind.FOUND_ELSEWHERE: {DiscrepancyOutcome.FOUND, DiscrepancyOutcome.RELOCATED},
    # The loan's return or loss settles a lent terminal found here; a terminal read at two places
    # is checked by hand. Neither is moved by the review.
    DiscrepancyKind.FOUND_BUT_LENT: {DiscrepancyOutcome.FOUND},
    DiscrepancyKind.SCANNED_TWICE: {DiscrepancyOutcome.FOUND},
    DiscrepancyKind.UNKNOWN_TAG: {DiscrepancyOutcome.FOUND, DiscrepancyOutcome.WRITTEN_OFF},
    DiscrepancyKind.ORPHAN_ACCOUNT: {DiscrepancyOutcome.ORPHAN_DELETED, DiscrepancyOutcome.FIXED},
    DiscrepancyKind.RETIRED_TERMINAL_ACCOUNT: {
        DiscrepancyOutcome.ORPHAN_DELETED,
        DiscrepancyOutcome.FIXED,
    },
    DiscrepancyKind.CARD_NOT_RETURNED: {
        DiscrepancyOutcome.FOUND,
        DiscrepancyOutcome.LOST_OR_STOLEN,
        DiscrepancyOutcome.WRITTEN_OFF,
    },
    # A login ID this service never issued, seen in an access log: delete it on its target, or
    # record why it may stay (fixed, or found legitimate).
    DiscrepancyKind.SIGN_IN_UNKNOWN_LOGIN_ID: {
        DiscrepancyOutcome.ORPHAN_DELETED,
        DiscrepancyOutcome.FIXED,
        DiscrepancyOutcome.FOUND,
    },
}
# Policy findings not listed above are fixed at their cause, then resolved as such; so are the
# other sign-in findings (found legitimate on checking, or their cause fixed).
_DEFAULT_OUTCOMES = {DiscrepancyOutcome.FIXED, DiscrepancyOutcome.FOUND}


def outcomes_for(kind: str) -> list[str]:
    allowed = _OUTCOMES_BY_KIND.get(kind, _DEFAULT_OUTCOMES)
    return [o for o in DiscrepancyOutcome.values if o in allowed]


@transaction.atomic
def discrepancy_assign(
    *, discrepancy: Discrepancy, actor: User, assignee: User | None
) -> Discrepancy:
    if assignee is not None and not (assignee.is_active and assignee.has_perm(REVIEW_PERMISSION)):
        raise InvalidInput(
            _("Nobody was assigned."),
            field_errors={"assignee": [_("Assign an active security officer.")]},
        )
    discrepancy = Discrepancy.objects.select_for_update(of=("self",)).get(pk=discrepancy.pk)
    discrepancy.assignee = assignee
    discrepancy.save(update_fields=["assignee"])
    record_event(
        actor=actor, action="discrepancy.assigned", obj=discrepancy,
        details={"assignee": assignee.get_username() if assignee else None},
    )  # fmt: skip
    return discrepancy


def discrepancy_resolve(
    *, discrepancy: Discrepancy, actor: User, outcome: str, note: str
) -> Discrepancy:
    """Resolve with an outcome and a note; the outcome's consequence happens here too."""
    errors = {}
    if outcome not in outcomes_for(discrepancy.kind):
        errors["outcome"] = [_("This outcome does not fit this kind of discrepancy.")]
    if not note.strip():
        errors["note"] = [_("A note is required.")]
    if errors:
        raise InvalidInput(_("The discrepancy was not resolved."), field_errors=errors)
    if outcome == DiscrepancyOutcome.ORPHAN_DELETED:
        # A second resolution must not delete on the target again; re-checked under the lock.
        still_open = Discrepancy.objects.filter(pk=discrepancy.pk, status=Discrepancy.Status.OPEN)
        if not still_open.exists():
            raise RuleViolation(_("This discrepancy is already resolved."))
        _delete_orphan(discrepancy, actor)  # slow I/O on the target, before the transaction
    with transaction.atomic():
        discrepancy = (
            Discrepancy.objects.select_for_update(of=("self",))
            .select_related("terminal", "stocktake")
            .get(pk=discrepancy.pk)
        )
        if discrepancy.status != Discrepancy.Status.OPEN:
            raise RuleViolation(_("This discrepancy is already resolved."))
        if (
            discrepancy.stocktake_id
            and Scan.objects.filter(
                stocktake_id=discrepancy.stocktake_id, scanned_by=actor
            ).exists()
        ):
            raise RuleViolation(
                _("You scanned this stock-take, so someone else must resolve its discrepancies.")
            )
        if discrepancy.kind == DiscrepancyKind.CARD_NOT_RETURNED:
            _settle_card(discrepancy, outcome=outcome, actor=actor, note=note)
        else:
            _settle_terminal(discrepancy, outcome=outcome, actor=actor, note=note)
        discrepancy.status, discrepancy.outcome, discrepancy.resolution_note = (
            Discrepancy.Status.RESOLVED,
            outcome,
            note.strip(),
        )
        discrepancy.resolved_by, discrepancy.resolved_at = actor, timezone.now()
        discrepancy.save(
            update_fields=["status", "outcome", "resolution_note", "resolved_by", "resolved_at"]
        )
        record_event(
            actor=actor,
            action="discrepancy.resolved",
            obj=discrepancy,
            details={
                "kind": discrepancy.kind,
                "subject": discrepancy.subject,
                "outcome": outcome,
                "note": note.strip(),
            },
        )
        stocktake = discrepancy.stocktake
        if (
            stocktake
            and not stocktake.discrepancies.filter(status=Discrepancy.Status.OPEN).exists()
        ):
            stocktake = StockTake.objects.select_for_update(of=("self",)).get(pk=stocktake.pk)
            check_transition(stocktake, StockTakeStatus.COMPLETED)
            stocktake.status, stocktake.completed_at = StockTakeStatus.COMPLETED, timezone.now()
            stocktake.save(update_fields=["status", "completed_at"])
            record_event(actor=actor, action="stocktake.completed", obj=stocktake, details={})
    return discrepancy


def _settle_card(discrepancy: Discrepancy, *, outcome: str, actor: User, note: str) -> None:
    """A card that did not come back with its terminal: found, it is back in the store; lost or
    written off, it says so. Either way it no longer blocks its declaration's close. The terminal
    it went out with came back and is not touched."""
    card = discrepancy.access_card
    if card is None:
        return
    if outcome == DiscrepancyOutcome.FOUND and card.status in (
        AccessCard.Status.LENT,
        AccessCard.Status.LOST,
    ):
        inventory.access_card_return_to_storage(card=card, actor=actor, reason=note)
    elif outcome == DiscrepancyOutcome.LOST_OR_STOLEN and card.status == AccessCard.Status.LENT:
        inventory.access_card_mark_lost(card=card, actor=actor, reason=note)
    elif outcome == DiscrepancyOutcome.WRITTEN_OFF and card.status != AccessCard.Status.RETIRED:
        inventory.access_card_retire(card=card, actor=actor, reason=note)


def _settle_terminal(discrepancy: Discrepancy, *, outcome: str, actor: User, note: str) -> None:
    """What a stock-take or policy finding's outcome does to its terminal."""
    terminal = discrepancy.terminal
    if terminal is None:
        return
    if outcome == DiscrepancyOutcome.RELOCATED and discrepancy.location:
        inventory.terminal_move(
            terminal=terminal, actor=actor, to_location=discrepancy.location, reason=note
        )
    elif outcome == DiscrepancyOutcome.LOST_OR_STOLEN and terminal.status != Status.LOST:
        inventory.terminal_mark_lost(terminal=terminal, actor=actor, reason=note)
        for account in terminal.accounts.exclude(state__in=["deleted"]):
            rotation_request(account=account, reason="revoked", actor=actor)
    elif outcome == DiscrepancyOutcome.WRITTEN_OFF and terminal.status != Status.RETIRED:
        inventory.terminal_retire(terminal=terminal, actor=actor, reason=note)


def _evidence_type(head: bytes) -> str | None:
    """What a file is, from its first bytes: the name and the browser's type can say anything."""
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heif"):
        return "image/heic"  # phone cameras
    return None


EVIDENCE_MAX_BYTES = 20 * 1024 * 1024


@transaction.atomic
def discrepancy_add_evidence(*, discrepancy: Discrepancy, actor: User, file) -> DiscrepancyEvidence:
    """Attach a photo or a PDF; the event keeps its hash so a later swap of the file shows."""
    problem = None
    if file.size > EVIDENCE_MAX_BYTES:
        problem = _("The file is larger than %(limit)d MB.") % {
            "limit": EVIDENCE_MAX_BYTES // 2**20
        }
    else:
        file.seek(0)
        head = file.read(16)
        file.seek(0)
        if _evidence_type(head) is None:
            problem = _("Attach a photo (JPEG, PNG, GIF, WebP, HEIC) or a PDF.")
    if problem:
        raise InvalidInput(_("The file was not attached."), field_errors={"file": [problem]})
    digest = hashlib.sha256()
    for chunk in file.chunks():
        digest.update(chunk)
    evidence = DiscrepancyEvidence.objects.create(
        discrepancy=discrepancy, file=file, uploaded_by=actor
    )
    record_event(
        actor=actor,
        action="discrepancy.evidence_added",
        obj=discrepancy,
        details={
            "evidence": evidence.pk,
            "name": evidence.file.name,
            "size": evidence.file.size,
            "sha256": digest.hexdigest(),
        },
    )
    return evidence


def _delete_orphan(discrepancy: Discrepancy, actor: User) -> None:
    if discrepancy.account is not None:
        account_delete(account=discrepancy.account, actor=actor)
        return
    target = TargetSystem.objects.get(code=discrepancy.details["target_system"])
    connector_for(target).delete(discrepancy.details["login_id"])


# Reminders ------------------------------------------------------------------------------------


def stocktake_reminders(*, now=None) -> int:
    """Before the due date a reminder, after it an overdue notice: one summary email per
    recipient (facilities staff scan, security officers close), not one per terminal."""
    now = now or timezone.now()
    open_ones = StockTake.objects.filter(status=StockTakeStatus.OPEN).select_related("site")
    due_soon = list(
        open_ones.filter(
            due_at__gte=now,
            due_at__lt=now + timedelta(days=settings.STOCKTAKE_REMINDER_DAYS),
            reminder_sent_at__isnull=True,
        )
    )
    overdue = list(open_ones.filter(due_at__lt=now, overdue_notice_at__isnull=True))
    if not due_soon and not overdue:
        return 0
    # Those who scan and those who close.
    recipients = emails_of_users_holding("compliance.add_scan", "compliance.change_stocktake")
    subject, body = bilingual("stocktake_summary", {"due_soon": due_soon, "overdue": overdue})
    for email in recipients:
        send_mail(subject, body, None, [email])
    StockTake.objects.filter(pk__in=[s.pk for s in due_soon]).update(reminder_sent_at=now)
    StockTake.objects.filter(pk__in=[s.pk for s in overdue]).update(overdue_notice_at=now)
    return len(recipients)


# What lending reports (registered in ComplianceConfig.ready) ---------------------------------


def stocktakes_open_after_declaration(declaration: Declaration, actor: User | None) -> None:
    """Count what came back: a stock-take of each site the closed declaration covered, unless
    one is already open there."""
    open_sites = set(
        StockTake.objects.filter(status=StockTakeStatus.OPEN).values_list("site_id", flat=True)
    )
    for site in declaration.sites.exclude(pk__in=open_sites):
        stocktake_open(site=site, actor=actor, reason=StockTakeReason.DECLARATION_CLOSED)


def discrepancy_card_not_returned(loan: Loan, card: AccessCard, actor: User | None) -> Discrepancy:
    """A card that did not come back with its terminal, for security to review; in the
    return's transaction."""
    discrepancy = Discrepancy.objects.create(
        kind=DiscrepancyKind.CARD_NOT_RETURNED,
        subject=card.card_number,
        terminal=loan.terminal,
        access_card=card,
        loan=loan,
        details={"contractor": loan.request.contractor.code},
    )
    record_event(
        actor=actor,
        action="discrepancy.opened",
        obj=discrepancy,
        details={
            "kind": discrepancy.kind,
            "terminal": loan.terminal.asset_tag,
            "access_card": card.card_number,
            "loan": loan.pk,
            **discrepancy.details,
        },
    )
    return discrepancy
