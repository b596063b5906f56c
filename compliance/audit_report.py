"""The internal audit report (内部監査): what the internal audit checks over one period (IDs,
passwords, terminals), as CSV files written once and hashed, with the digest of those files
recorded in the audit trail so that a later reader can tell the report was not edited.

One writer: each section's rows are built here by a selector with a fixed number of queries
(never one per row), written to CSV once when the report is produced, and stored with their
sha256. The page, the printable view, the CSV downloads and the API all read those stored
files; nothing is built again when a report is read.

The stored CSV is what is hashed, so it cannot depend on who reads it: its column headers are
stable English keys (not translated labels as the per-request CSV downloads of compliance.reports
and lending.reports have), codes rather than their labels (`in_storage`, not 保管中), and times
in ISO 8601 in Asia/Tokyo with the offset. The pages and the printable view put the headers and
the codes into the reader's language. The bytes downloaded are the bytes hashed (UTF-8 with a
byte order mark so that Excel reads Japanese): `sha256sum` of a downloaded file gives its
section's digest, and the report's digest is the sha256 of the sha256sum-style manifest of the
sections in order (`<sha256>  <name>.csv` lines)."""

import csv
import hashlib
import io
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min, Q
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from compliance.models import (
    SIGN_IN_KINDS,
    AuditReport,
    AuditReportSection,
    AuditReportStatus,
    Discrepancy,
    DiscrepancyKind,
    DiscrepancyOutcome,
    DiscrepancyStatus,
    Scan,
    SignInResult,
    StockTake,
    StockTakeExpectation,
    StockTakeReason,
    StockTakeStatus,
)
from core.audit import (
    CHAIN_BREAK_REASONS,
    events_about,
    object_type_spellings,
    record_event,
    verify_chain,
)
from core.errors import InvalidInput
from core.models import AuditEvent, User
from core.phrases import describe, is_stored_phrase
from core.queue import enqueue
from core.spreadsheets import BOM, FORMULA_STARTS, safe_cell
from core.transitions import check_transition
from credentials.models import (
    Account,
    LoginIdRecord,
    Rotation,
    RotationReason,
    RotationStatus,
    SecretVersion,
)
from lending.models import (
    Arrangement,
    ArrangementExtension,
    ArrangementStatus,
    ExtensionStatus,
    Loan,
    LoanStatus,
    ReturnCondition,
)
from lending.supervision import exceptions_between
from terminals.models import Location, Movement, Terminal, TerminalStatus

logger = logging.getLogger(__name__)

# The periods are dates as people in Japan read them: a day starts at local midnight.
REPORT_ZONE = ZoneInfo("Asia/Tokyo")
MAX_PERIOD_DAYS = 400
PRODUCE_TASK = "compliance.tasks.produce_audit_report"

YES, NO = "yes", "no"
_YES_NO = {YES: _("Yes"), NO: _("No")}
SYSTEM = "system"  # who acted when nobody did (the scheduler, a worker), as the audit trail says
_ACTOR = {SYSTEM: _("system")}


# The period ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """From the first day's local midnight (included) to the midnight after the last day
    (excluded), in Asia/Tokyo."""

    first_day: date
    last_day: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time.min, tzinfo=REPORT_ZONE)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last_day + timedelta(days=1), time.min, tzinfo=REPORT_ZONE)

    def holds(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end


def today_in_report_zone() -> date:
    return timezone.now().astimezone(REPORT_ZONE).date()


def audit_report_period_errors(
    period_start: date | None, period_end: date | None, *, today: date | None = None
) -> dict[str, list[str]]:
    """What is wrong with a period, per field (the form and the API show the same messages)."""
    errors: dict[str, list[str]] = {}
    if period_start is None:
        errors["period_start"] = [gettext("Give the first day of the period.")]
    if period_end is None:
        errors["period_end"] = [gettext("Give the last day of the period.")]
    if errors:
        return errors
    assert period_start is not None and period_end is not None
    today = today or today_in_report_zone()
    if period_start > period_end:
        errors.setdefault("period_end", []).append(
            gettext("The last day comes before the first day.")
        )
    if period_start > today:
        errors.setdefault("period_start", []).append(gettext("The period starts in the future."))
    elif period_end > today:
        errors.setdefault("period_end", []).append(
            gettext("The period ends in the future: a report covers days that have begun.")
        )
    if (period_end - period_start).days + 1 > MAX_PERIOD_DAYS:
        errors.setdefault("period_end", []).append(
            gettext("A report covers at most %(days)d days.") % {"days": MAX_PERIOD_DAYS}
        )
    return errors


# Sections: their columns and how their CSV reads back -----------------------------------------


@dataclass(frozen=True)
class Column:
    key: str  # the CSV header: stable, in English
    label: Promise  # what the pages call it, in the reader's language
    kind: str = "text"  # "text", "datetime" (ISO 8601 with offset) or "number"
    choices: Mapping[str, str | Promise] | None = None  # codes stored, words shown
    # A reason the system wrote is stored twice: in English words here, and as its phrase (code
    # and parameters, JSON) in the column named here, which the pages put into the reader's words.
    phrase_key: str = ""


@dataclass(frozen=True)
class SectionSpec:
    name: str
    title: Promise
    description: Promise
    columns: tuple[Column, ...]
    build: Callable[[Period], list[dict[str, Any]]]

    @property
    def keys(self) -> list[str]:
        return [column.key for column in self.columns]


def _choices(choices: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    return dict(choices)


def _cell(value: Any) -> str:
    """One value as the CSV stores it, whoever produced the report."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, datetime):
        return value.astimezone(REPORT_ZONE).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return " | ".join(_cell(item) for item in value)
    return str(value)


def section_csv(spec: SectionSpec, rows: Iterable[Mapping[str, Any]]) -> str:
    """The section as the text of its CSV file: BOM, header of keys, one line per row, and no
    cell a spreadsheet would run as a formula (core.spreadsheets)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(spec.keys)
    for row in rows:
        writer.writerow([safe_cell(_cell(row.get(key))) for key in spec.keys])
    return BOM + out.getvalue()


def csv_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def manifest(sections: Iterable[tuple[str, str]]) -> str:
    """`<sha256>  <name>.csv` per section, in order: what `sha256sum` prints for the files."""
    return "".join(f"{digest}  {name}.csv\n" for name, digest in sections)


def report_digest(sections: Iterable[tuple[str, str]]) -> str:
    return hashlib.sha256(manifest(sections).encode("utf-8")).hexdigest()


def _unescape(cell: str) -> str:
    # safe_cell put an apostrophe before a cell that would run as a formula: show the value.
    if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS):
        return cell[1:]
    return cell


def read_csv(text: str) -> tuple[list[str], list[list[str]]]:
    """A stored CSV's header and rows, as stored."""
    reader = csv.reader(io.StringIO(text.removeprefix(BOM)))
    header = next(reader, [])
    return header, list(reader)


def show_cell(column: Column | None, cell: str, phrase: str = "") -> str:
    """A stored cell in the reader's language: times in local time, codes in words."""
    value = _unescape(cell)
    if phrase:
        try:
            return describe(json.loads(_unescape(phrase)))
        except ValueError:
            return value
    if column is None or value == "":
        return value
    if column.kind == "datetime":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return date_format(timezone.localtime(moment), "DATETIME_FORMAT")
    if column.choices is not None:
        parts = value.split(" | ")
        return " | ".join(str(column.choices.get(part, part)) for part in parts)
    return value


@dataclass
class SectionTable:
    """A stored section as a page shows it: labels and rows in the reader's language."""

    section: AuditReportSection
    spec: SectionSpec | None
    labels: list[str]
    rows: list[list[str]]
    total: int
    numeric: list[bool] = field(default_factory=list)

    @property
    def title(self) -> str:
        return str(self.spec.title) if self.spec else self.section.name

    @property
    def description(self) -> str:
        return str(self.spec.description) if self.spec else ""

    @property
    def capped(self) -> bool:
        return len(self.rows) < self.total


def _at(row: list[str], index: int | None) -> str:
    return row[index] if index is not None and index < len(row) else ""


def section_table(section: AuditReportSection, *, limit: int | None = None) -> SectionTable:
    spec = SECTIONS_BY_NAME.get(section.name)
    header, rows = read_csv(section.csv)
    columns_by_key = {column.key: column for column in spec.columns} if spec else {}
    columns = [columns_by_key.get(key) for key in header]
    shown = rows if limit is None else rows[:limit]
    position = {key: index for index, key in enumerate(header)}
    # Each column's phrase column, if it has one (its cells shown through it, itself not shown).
    phrase_at = [
        position.get(column.phrase_key) if column and column.phrase_key else None
        for column in columns
    ]
    hidden = {index for index in phrase_at if index is not None}
    return SectionTable(
        section=section,
        spec=spec,
        labels=[
            str(column.label) if column else key
            for index, (column, key) in enumerate(zip(columns, header, strict=True))
            if index not in hidden
        ],
        rows=[
            [
                show_cell(column, cell, _at(row, phrase_at[index]))
                for index, (column, cell) in enumerate(zip(columns, row, strict=False))
                if index not in hidden
            ]
            for row in shown
        ],
        total=len(rows),
        numeric=[
            bool(column and column.kind == "number")
            for index, column in enumerate(columns)
            if index not in hidden
        ],
    )


# Selectors: one per section, each a fixed number of queries ----------------------------------


def _location_codes() -> dict[int, str]:
    return dict(Location.objects.values_list("pk", "code"))


def _unique(values: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value and (not seen or seen[-1] != value):
            seen.append(value)
    return seen


def terminal_rows(period: Period) -> list[dict[str, Any]]:
    """Every terminal that existed during the period (not retired before it) and where it was:
    its status and location at the start and at the end, and every location and status it went
    through, read back from its movements."""
    codes = _location_codes()
    terminals = list(
        Terminal.objects.filter(created_at__lt=period.end)
        .order_by("asset_tag")
        .values_list("pk", "asset_tag", "serial_number", "hostname", "status", "location_id")
    )
    # Every movement since the period began: those in it, and the first one after it tells
    # where the terminal was at its end (the current row, rewound).
    later: dict[int, list[tuple]] = defaultdict(list)
    for row in (
        Movement.objects.filter(occurred_at__gte=period.start)
        .order_by("terminal_id", "occurred_at", "id")
        .values_list(
            "terminal_id", "occurred_at", "from_location_id", "to_location_id", "from_status",
            "to_status",
        )
    ):  # fmt: skip
        later[row[0]].append(row)
    rows = []
    for pk, tag, serial, hostname, status, location_id in terminals:
        moves = later.get(pk, [])
        during = [m for m in moves if m[1] < period.end]
        after = [m for m in moves if m[1] >= period.end]
        end_status, end_location = (after[0][4], after[0][2]) if after else (status, location_id)
        if during:
            start_status, start_location = during[0][4], during[0][2]
        else:
            start_status, start_location = end_status, end_location
        if start_status == TerminalStatus.RETIRED and not during:
            continue  # retired before the period: not there to look for
        statuses = _unique([start_status, *(m[5] for m in during)])
        locations = _unique(
            [codes.get(start_location, "") if start_location else ""]
            + [codes.get(m[3], "") for m in during]
        )
        rows.append(
            {
                "asset_tag": tag,
                "serial_number": serial,
                "hostname": hostname,
                "status_at_start": start_status,
                "location_at_start": codes.get(start_location, "") if start_location else "",
                "status_at_end": end_status,
                "location_at_end": codes.get(end_location, "") if end_location else "",
                "movements": len(during),
                "statuses": statuses,
                "locations": locations,
            }
        )
    return rows


def movement_rows(period: Period) -> list[dict[str, Any]]:
    """Each change of a terminal's location or status during the period."""
    codes = _location_codes()
    movements = (
        Movement.objects.filter(occurred_at__gte=period.start, occurred_at__lt=period.end)
        .order_by("occurred_at", "id")
        .values_list(
            "occurred_at", "terminal__asset_tag", "from_status", "to_status", "from_location_id",
            "to_location_id", "actor__username", "reason", "reason_phrase",
        )
    )  # fmt: skip
    rows = []
    # A reason the system wrote is a phrase: put into words in English, as every stored cell.
    with translation.override("en"):
        for at, tag, from_status, to_status, from_loc, to_loc, actor, text, phrase in movements:
            rows.append(
                {
                    "time": at,
                    "asset_tag": tag,
                    "from_status": from_status,
                    "to_status": to_status,
                    "from_location": codes.get(from_loc, "") if from_loc else "",
                    "to_location": codes.get(to_loc, ""),
                    "by": actor or SYSTEM,
                    "reason": describe(phrase) if phrase else text,
                    "reason_phrase": json.dumps(phrase, ensure_ascii=False) if phrase else "",
                }
            )
    return rows


def _back_at(loan: Loan) -> datetime | None:
    confirmation = getattr(loan, "return_confirmation", None)
    if confirmation is not None:
        return confirmation.returned_at
    return loan.revoked_at


def _account_ref_ids(account_ids: Iterable[int]) -> list[str]:
    return [str(pk) for pk in account_ids]


def _reveal_events(account_ids: list[int], before: datetime, since: datetime | None = None):
    spellings = object_type_spellings("credentials.account")
    events = AuditEvent.objects.filter(
        action__in=("secret.revealed", "secret.extra_reveal_approved"),
        object_type__in=spellings,
        object_id__in=_account_ref_ids(account_ids),
        occurred_at__lt=before,
    )
    if since is not None:
        events = events.filter(occurred_at__gte=since)
    return events.order_by("occurred_at", "id").values_list(
        "occurred_at", "action", "actor_username", "object_id", "details"
    )


ROTATION_AFTER_RETURN = {
    "succeeded": _("Succeeded"),
    "failed": _("Failed"),
    "pending": _("Pending"),
    "none": _("Not requested"),
}


def loan_rows(period: Period) -> list[dict[str, Any]]:
    """Every loan with something of its timeline in the period (request, approval, check-out,
    reveal, return, rotation after the return), or out across the whole of it."""
    rotated_terminals = Rotation.objects.filter(
        Q(requested_at__gte=period.start, requested_at__lt=period.end)
        | Q(finished_at__gte=period.start, finished_at__lt=period.end)
    ).values("account__terminal_id")
    # The event's object id is text: read the ids, then ask for their terminals' loans.
    revealed_accounts = [
        int(object_id)
        for object_id in AuditEvent.objects.filter(
            action="secret.revealed",
            object_type__in=object_type_spellings("credentials.account"),
            occurred_at__gte=period.start,
            occurred_at__lt=period.end,
        ).values_list("object_id", flat=True)
        if object_id.isdigit()
    ]
    candidates = list(
        Loan.objects.filter(request__submitted_at__lt=period.end)
        .filter(
            Q(request__submitted_at__gte=period.start)
            | Q(request__decided_at__gte=period.start)
            | Q(checked_out_at__gte=period.start)
            | Q(return_confirmation__returned_at__gte=period.start)
            | Q(revoked_at__gte=period.start)
            | Q(status__in=Loan.OUT)
            | Q(terminal__in=rotated_terminals)
            | Q(terminal__accounts__pk__in=revealed_accounts)
        )
        .distinct()
        .select_related(
            "terminal",
            "handed_out_by",
            "request__contractor",
            "request__submitted_by",
            "request__decided_by",
            "return_confirmation__received_by",
        )
        .order_by("checked_out_at", "pk")
    )
    terminal_ids = {loan.terminal_id for loan in candidates}
    accounts_of: dict[int, list[int]] = defaultdict(list)
    for account_id, terminal_id in Account.objects.filter(terminal__in=terminal_ids).values_list(
        "pk", "terminal_id"
    ):
        accounts_of[terminal_id].append(account_id)
    checkouts: dict[int, list[datetime]] = defaultdict(list)
    for terminal_id, checked_out_at in (
        Loan.objects.filter(terminal__in=terminal_ids)
        .order_by("checked_out_at")
        .values_list("terminal_id", "checked_out_at")
    ):
        checkouts[terminal_id].append(checked_out_at)
    rotations: dict[int, list[tuple]] = defaultdict(list)  # account -> (requested, finished, st)
    for account_id, requested_at, finished_at, status in (
        Rotation.objects.filter(account__terminal__in=terminal_ids, requested_at__lt=period.end)
        .order_by("requested_at", "pk")
        .values_list("account_id", "requested_at", "finished_at", "status")
    ):
        rotations[account_id].append((requested_at, finished_at, status))
    reveals: dict[int, list[datetime]] = defaultdict(list)  # account -> times
    all_accounts = [pk for ids in accounts_of.values() for pk in ids]
    for occurred_at, action, _actor, object_id, _details in _reveal_events(
        all_accounts, before=period.end
    ):
        if action == "secret.revealed":
            reveals[int(object_id)].append(occurred_at)

    rows = []
    for loan in candidates:
        request = loan.request
        confirmation = getattr(loan, "return_confirmation", None)
        back_at = _back_at(loan)
        accounts = accounts_of.get(loan.terminal_id, [])
        revealed = sorted(
            moment
            for account_id in accounts
            for moment in reveals.get(account_id, [])
            if moment >= loan.checked_out_at and (back_at is None or moment < back_at)
        )
        next_checkout = next(
            (t for t in checkouts[loan.terminal_id] if t > loan.checked_out_at), None
        )
        outcome, rotated_at, rotation_times = _rotation_after_return(
            back_at, next_checkout, accounts, rotations
        )
        timeline = [
            request.submitted_at,
            request.decided_at,
            loan.checked_out_at,
            *revealed,
            back_at,
            *rotation_times,
        ]
        out_across = (
            loan.status != LoanStatus.ABANDONED
            and loan.checked_out_at < period.start
            and (back_at is None or back_at >= period.end)
        )
        if not out_across and not any(period.holds(moment) for moment in timeline):
            continue
        rows.append(
            {
                "loan": loan.pk,
                "asset_tag": loan.terminal.asset_tag,
                "contractor": request.contractor.code,
                "declaration": request.declaration_id,
                "request": request.pk,
                "submitted_at": request.submitted_at,
                "submitted_by": request.submitted_by.username,
                "approved_at": request.decided_at,
                "approved_by": request.decided_by.username if request.decided_by else "",
                "checked_out_at": loan.checked_out_at,
                "handed_out_by": loan.handed_out_by.username,
                "operator": loan.operator_name,
                "due_at": loan.due_at,
                "reveals": len(revealed),
                "revealed_at": revealed,
                "returned_at": confirmation.returned_at if confirmation else None,
                "received_by": confirmation.received_by.username if confirmation else "",
                "condition": confirmation.condition if confirmation else "",
                "revoked_at": loan.revoked_at,
                "status": loan.status,
                "rotation": outcome,
                "rotated_at": rotated_at,
            }
        )
    return rows


def _rotation_after_return(
    back_at: datetime | None,
    next_checkout: datetime | None,
    accounts: list[int],
    rotations: Mapping[int, list[tuple]],
) -> tuple[str, datetime | None, list[datetime]]:
    """How the rotation of every account after a return went: each account's latest rotation
    requested between the return and the next check-out decides (a retry follows a failure)."""
    if back_at is None:
        return "", None, []
    latest: list[tuple] = []
    times: list[datetime] = []
    for account_id in accounts:
        window = [
            r
            for r in rotations.get(account_id, [])
            if r[0] >= back_at and (next_checkout is None or r[0] < next_checkout)
        ]
        times.extend(r[1] for r in window if r[1] is not None)
        if window:
            latest.append(window[-1])
    if not latest:
        return "none", None, times
    statuses = {r[2] for r in latest}
    if statuses == {RotationStatus.SUCCEEDED}:
        return "succeeded", max(r[1] for r in latest), times
    if RotationStatus.FAILED in statuses:
        return "failed", None, times
    return "pending", None, times


REVEAL_EVENTS = {
    "revealed": _("Revealed"),
    "extra_reveal_approved": _("Another reveal approved"),
}


def reveal_rows(period: Period) -> list[dict[str, Any]]:
    """Every reveal of a login ID and password in the period, and every approval of one more
    reveal, with the loan the terminal was on at that moment."""
    events = list(
        AuditEvent.objects.filter(
            action__in=("secret.revealed", "secret.extra_reveal_approved"),
            object_type__in=object_type_spellings("credentials.account"),
            occurred_at__gte=period.start,
            occurred_at__lt=period.end,
        )
        .order_by("occurred_at", "id")
        .values_list("occurred_at", "action", "actor_username", "object_id", "details")
    )
    account_ids = {int(event[3]) for event in events if event[3].isdigit()}
    accounts = {
        pk: (target, terminal_id, tag)
        for pk, target, terminal_id, tag in Account.objects.filter(pk__in=account_ids).values_list(
            "pk", "target_system__code", "terminal_id", "terminal__asset_tag"
        )
    }
    login_ids = {
        (account_id, version): login_id
        for account_id, version, login_id in SecretVersion.objects.filter(
            account__in=account_ids
        ).values_list("account_id", "version", "login_id")
    }
    loans: dict[int, list[Loan]] = defaultdict(list)
    for loan in (
        Loan.objects.filter(terminal__in={a[1] for a in accounts.values()})
        .exclude(status=LoanStatus.ABANDONED)
        .select_related("request__contractor", "return_confirmation")
        .order_by("checked_out_at")
    ):
        loans[loan.terminal_id].append(loan)
    rows = []
    for occurred_at, action, actor, object_id, details in events:
        account_id = int(object_id) if object_id.isdigit() else 0
        target, terminal_id, tag = accounts.get(account_id, ("", 0, ""))
        version = details.get("version")
        on_loan = next(
            (
                loan
                for loan in reversed(loans.get(terminal_id, []))
                if loan.checked_out_at <= occurred_at
                and ((back := _back_at(loan)) is None or occurred_at < back)
            ),
            None,
        )
        rows.append(
            {
                "time": occurred_at,
                "event": action.split(".", 1)[1],
                "by": actor,
                "account": account_id or object_id,
                "target_system": target,
                "login_id": details.get("login_id") or login_ids.get((account_id, version), ""),
                "version": version,
                "asset_tag": tag,
                "loan": on_loan.pk if on_loan else "",
                "contractor": on_loan.request.contractor.code if on_loan else "",
                "again": details.get("again") if action == "secret.revealed" else None,
                "reason": details.get("reason", ""),
            }
        )
    return rows


def rotation_rows(period: Period) -> list[dict[str, Any]]:
    """Every rotation requested or finished in the period, failures with their last error."""
    rotations = (
        Rotation.objects.filter(
            Q(requested_at__gte=period.start, requested_at__lt=period.end)
            | Q(finished_at__gte=period.start, finished_at__lt=period.end)
        )
        .order_by("requested_at", "pk")
        .values_list(
            "pk", "account_id", "account__target_system__code", "account__terminal__asset_tag",
            "reason", "status", "requested_at", "requested_by__username", "finished_at",
            "attempts", "pending_version__login_id", "last_error",
        )
    )  # fmt: skip
    return [
        {
            "rotation": pk,
            "account": account,
            "target_system": target,
            "asset_tag": tag,
            "reason": reason,
            "status": status,
            "requested_at": requested_at,
            "requested_by": requested_by or SYSTEM,
            "finished_at": finished_at,
            "attempts": attempts,
            "new_login_id": new_login_id or "",
            "last_error": last_error,
        }
        for (
            pk, account, target, tag, reason, status, requested_at, requested_by, finished_at,
            attempts, new_login_id, last_error,
        ) in rotations
    ]  # fmt: skip


def _stocktakes_of(period: Period):
    return StockTake.objects.filter(opened_at__lt=period.end).filter(
        Q(completed_at__isnull=True) | Q(completed_at__gte=period.start)
    )


def _counts(queryset, key: str) -> dict[int, int]:
    return dict(queryset.order_by().values_list(key).annotate(n=Count("pk")).values_list(key, "n"))


def stocktake_rows(period: Period) -> list[dict[str, Any]]:
    """Every stock-take open, under review or completed during the period, with its figures."""
    stocktakes = list(
        _stocktakes_of(period)
        .order_by("opened_at", "pk")
        .values_list(
            "pk", "site__code", "reason", "status", "blind", "opened_at", "opened_by__username",
            "due_at", "closed_at", "closed_by__username", "completed_at",
        )
    )  # fmt: skip
    ids = [row[0] for row in stocktakes]
    expected = _counts(StockTakeExpectation.objects.filter(stocktake__in=ids), "stocktake_id")
    scanned = _counts(
        Scan.objects.filter(stocktake__in=ids, undone_at__isnull=True), "stocktake_id"
    )
    findings = _counts(Discrepancy.objects.filter(stocktake__in=ids), "stocktake_id")
    still_open = _counts(
        Discrepancy.objects.filter(stocktake__in=ids, status=DiscrepancyStatus.OPEN),
        "stocktake_id",
    )
    return [
        {
            "stocktake": pk,
            "site": site,
            "reason": reason,
            "status": status,
            "blind": blind,
            "opened_at": opened_at,
            "opened_by": opened_by or SYSTEM,
            "due_at": due_at,
            "closed_at": closed_at,
            "closed_by": closed_by or "",
            "completed_at": completed_at,
            "expected": expected.get(pk, 0),
            "scanned": scanned.get(pk, 0),
            "findings": findings.get(pk, 0),
            "open_findings": still_open.get(pk, 0),
        }
        for (
            pk, site, reason, status, blind, opened_at, opened_by, due_at, closed_at, closed_by,
            completed_at,
        ) in stocktakes
    ]  # fmt: skip


def _finding(discrepancy: Discrepancy) -> dict[str, Any]:
    return {
        "finding": discrepancy.pk,
        "kind": discrepancy.kind,
        "subject": discrepancy.subject,
        "asset_tag": discrepancy.terminal.asset_tag if discrepancy.terminal else "",
        "status": discrepancy.status,
        "opened_at": discrepancy.opened_at,
        "outcome": discrepancy.outcome,
        "note": discrepancy.resolution_note,
        "resolved_by": discrepancy.resolved_by.username if discrepancy.resolved_by else "",
        "resolved_at": discrepancy.resolved_at,
    }


def stocktake_finding_rows(period: Period) -> list[dict[str, Any]]:
    """The discrepancies of those stock-takes and how each was resolved."""
    discrepancies = (
        Discrepancy.objects.filter(stocktake__in=_stocktakes_of(period).values("pk"))
        .select_related("stocktake", "terminal", "location", "resolved_by")
        .order_by("stocktake_id", "kind", "subject", "pk")
    )
    return [
        {
            **_finding(d),
            "stocktake": d.stocktake_id,
            "location": d.location.code if d.location else "",
        }
        for d in discrepancies
    ]


def sign_in_finding_rows(period: Period) -> list[dict[str, Any]]:
    """Every access-log finding whose sign-in happened, or which was found or resolved, in the
    period: what was seen, what it was judged against, and how it was resolved."""
    discrepancies = (
        Discrepancy.objects.filter(kind__in=[kind.value for kind in SIGN_IN_KINDS])
        .filter(
            Q(sign_in__occurred_at__gte=period.start, sign_in__occurred_at__lt=period.end)
            | Q(opened_at__gte=period.start, opened_at__lt=period.end)
            | Q(resolved_at__gte=period.start, resolved_at__lt=period.end)
        )
        .select_related(
            "sign_in__target_system",
            "account__target_system",
            "terminal",
            "loan__request__contractor",
            "resolved_by",
        )
        .order_by("sign_in__occurred_at", "pk")
    )
    rows = []
    for d in discrepancies:
        sign_in = d.sign_in
        details = d.details if isinstance(d.details, dict) else {}
        expected = details.get("expected", "")
        # The rules store what was expected as a phrase (compliance.access_log_rules).
        phrase = expected if is_stored_phrase(expected) else None
        rows.append(
            {
                **_finding(d),
                "signed_in_at": sign_in.occurred_at if sign_in else None,
                "login_id": sign_in.login_id if sign_in else d.details.get("login_id", ""),
                "result": sign_in.result if sign_in else "",
                "target_system": sign_in.target_system.code if sign_in else "",
                "source_host": sign_in.source_host if sign_in else "",
                "source_address": (sign_in.source_address or "") if sign_in else "",
                "log_line": sign_in.line_number if sign_in else "",
                "account": d.account_id or "",
                "loan": d.loan_id or "",
                "contractor": (
                    d.loan.request.contractor.code if d.loan else details.get("contractor") or ""
                ),
                "expected": describe(phrase) if phrase else _cell(expected),
                "expected_phrase": json.dumps(phrase, ensure_ascii=False) if phrase else "",
            }
        )
    return rows


ACCOUNT_EVENTS = {"created": _("Created"), "deleted": _("Deleted")}


def account_rows(period: Period) -> list[dict[str, Any]]:
    """Every account created or deleted in the period, from the audit trail."""
    events = list(
        AuditEvent.objects.filter(
            action__in=("account.created", "account.deleted"),
            object_type__in=object_type_spellings("credentials.account"),
            occurred_at__gte=period.start,
            occurred_at__lt=period.end,
        )
        .order_by("occurred_at", "id")
        .values_list("occurred_at", "action", "actor_username", "object_id", "details")
    )
    ids = {int(event[3]) for event in events if event[3].isdigit()}
    accounts = {
        pk: (target, tag)
        for pk, target, tag in Account.objects.filter(pk__in=ids).values_list(
            "pk", "target_system__code", "terminal__asset_tag"
        )
    }
    first_login_id: dict[int, str] = {}
    for account_id, login_id in (
        LoginIdRecord.objects.filter(account__in=ids)
        .order_by("-valid_from", "-pk")
        .values_list("account_id", "login_id")
    ):
        first_login_id[account_id] = login_id  # the earliest wins: read last
    rows = []
    for occurred_at, action, actor, object_id, details in events:
        account_id = int(object_id) if object_id.isdigit() else 0
        target, tag = accounts.get(account_id, (details.get("target_system", ""), ""))
        rows.append(
            {
                "time": occurred_at,
                "event": action.split(".", 1)[1],
                "by": actor,
                "account": account_id or object_id,
                "target_system": target,
                "asset_tag": tag or details.get("terminal", ""),
                "login_id": details.get("login_id") or first_login_id.get(account_id, ""),
            }
        )
    return rows


def arrangement_rows(period: Period) -> list[dict[str, Any]]:
    """Every time-boxed arrangement in force at some moment of the period (approved, and not
    ended before it began), with what it covered, its extensions and how it ended."""
    arrangements = list(
        Arrangement.objects.filter(decided_at__isnull=False, starts_at__lt=period.end)
        .exclude(status__in=[ArrangementStatus.PROPOSED, ArrangementStatus.REJECTED])
        .exclude(ended_at__lt=period.start)
        .select_related("proposed_by", "decided_by", "declaration")
        .prefetch_related("parties", "terminals", "accounts__target_system")
        .order_by("starts_at", "pk")
    )
    extensions: dict[int, list[ArrangementExtension]] = defaultdict(list)
    for extension in ArrangementExtension.objects.filter(
        arrangement__in=arrangements, status=ExtensionStatus.APPROVED
    ).order_by("decided_at", "pk"):
        extensions[extension.arrangement_id].append(extension)
    loans = _counts(
        Loan.objects.filter(request__declaration__arrangement__in=arrangements).values(
            "request__declaration__arrangement"
        ),
        "request__declaration__arrangement",
    )
    still_out = _counts(
        Loan.objects.filter(
            request__declaration__arrangement__in=arrangements, status__in=Loan.OUT
        ).values("request__declaration__arrangement"),
        "request__declaration__arrangement",
    )
    return [
        {
            "arrangement": arrangement.pk,
            "title": arrangement.title,
            "reason": arrangement.reason,
            "parties": sorted(party.code for party in arrangement.parties.all()),
            "terminals": sorted(terminal.asset_tag for terminal in arrangement.terminals.all()),
            "accounts": sorted(
                f"{account.login_id}@{account.target_system.code}"
                for account in arrangement.accounts.all()
            ),
            "proposed_by": arrangement.proposed_by.username,
            "approved_by": arrangement.decided_by.username if arrangement.decided_by else "",
            "starts_at": arrangement.starts_at,
            "ends_at": arrangement.ends_at,
            "extensions": [
                f"{e.previous_ends_at.astimezone(REPORT_ZONE):%Y-%m-%d} → "
                f"{e.new_ends_at.astimezone(REPORT_ZONE):%Y-%m-%d}"
                for e in extensions[arrangement.pk]
            ],
            "status": arrangement.status,
            "ended_at": arrangement.ended_at,
            "loans": loans.get(arrangement.pk, 0),
            "loans_still_out": still_out.get(arrangement.pk, 0),
        }
        for arrangement in arrangements
    ]


def supervision_exception_rows(period: Period) -> list[dict[str, Any]]:
    """Every exception to the contractor supervision rules granted in the period, and the
    check-outs that used it."""
    granted = list(exceptions_between(start=period.start, end=period.end).order_by("granted_at"))
    used = _counts(
        Loan.objects.filter(supervision_exception__in=granted).values("supervision_exception"),
        "supervision_exception",
    )
    return [
        {
            "exception": exception.pk,
            "contractor": exception.contractor.code,
            "operator": exception.operator_name,
            "declaration": exception.declaration_id,
            "reason": exception.reason,
            "granted_by": exception.granted_by.username,
            "granted_at": exception.granted_at,
            "expires_at": exception.expires_at,
            "check_outs": used.get(exception.pk, 0),
        }
        for exception in granted
    ]


CHAIN_RESULTS = {
    "verified": _("Verified: every event of the period is sealed and the chain is intact"),
    "not_verified": _("Not verified: see the break or the events not sealed"),
}


def chain_verification(period: Period) -> dict[str, Any]:
    """The audit chain checked whole (every event of the period hangs on those before it),
    and what that means for the period's events."""
    checked, broken = verify_chain()
    figures = AuditEvent.objects.filter(
        occurred_at__gte=period.start, occurred_at__lt=period.end
    ).aggregate(
        events=Count("pk"),
        first_seq=Min("seq"),
        last_seq=Max("seq"),
        unsealed=Count("pk", filter=Q(seq__isnull=True)),
    )
    last_seq = figures["last_seq"] or 0
    period_intact = figures["unsealed"] == 0 and (broken is None or broken.seq > last_seq)
    return {
        "verified_at": timezone.now().astimezone(REPORT_ZONE).isoformat(timespec="seconds"),
        "result": "verified" if period_intact else "not_verified",
        "chain_events_verified": checked,
        "period_events": figures["events"],
        "period_first_seq": figures["first_seq"],
        "period_last_seq": figures["last_seq"],
        "unsealed_in_period": figures["unsealed"],
        "break_seq": broken.seq if broken else None,
        "break_reason": broken.reason if broken else "",
    }


# The sections, in the report's order -----------------------------------------------------------

_TERMINAL_STATUS = _choices(TerminalStatus.choices)

# How a finding was reviewed: the same columns for stock-take and access-log findings.
_FINDING_REVIEW = (
    Column("status", _("status"), choices=_choices(DiscrepancyStatus.choices)),
    Column("opened_at", _("opened at"), kind="datetime"),
    Column("outcome", _("outcome"), choices=_choices(DiscrepancyOutcome.choices)),
    Column("note", _("note")),
    Column("resolved_by", _("resolved by")),
    Column("resolved_at", _("resolved at"), kind="datetime"),
)

SECTIONS: tuple[SectionSpec, ...] = (
    SectionSpec(
        "terminals",
        _("Terminals and where they were"),
        _(
            "Every terminal of the period: status and location at its start and end, and all "
            "it went through."
        ),
        (
            Column("asset_tag", _("asset tag")),
            Column("serial_number", _("serial number")),
            Column("hostname", _("hostname")),
            Column("status_at_start", _("status at the start"), choices=_TERMINAL_STATUS),
            Column("location_at_start", _("location at the start")),
            Column("status_at_end", _("status at the end"), choices=_TERMINAL_STATUS),
            Column("location_at_end", _("location at the end")),
            Column("movements", _("movements"), kind="number"),
            Column("statuses", _("statuses in the period"), choices=_TERMINAL_STATUS),
            Column("locations", _("locations in the period")),
        ),
        terminal_rows,
    ),
    SectionSpec(
        "terminal_movements",
        _("Terminal movements"),
        _("Each change of a terminal's location or status during the period."),
        (
            Column("time", _("time"), kind="datetime"),
            Column("asset_tag", _("asset tag")),
            Column("from_status", _("from status"), choices=_TERMINAL_STATUS),
            Column("to_status", _("to status"), choices=_TERMINAL_STATUS),
            Column("from_location", _("from location")),
            Column("to_location", _("to location")),
            Column("by", _("by"), choices=_ACTOR),
            Column("reason", _("reason"), phrase_key="reason_phrase"),
            Column("reason_phrase", _("reason (system)")),
        ),
        movement_rows,
    ),
    SectionSpec(
        "loans",
        _("Loans and their timeline"),
        _(
            "Every loan with a step in the period, from the request to the rotation after its "
            "return."
        ),
        (
            Column("loan", _("loan"), kind="number"),
            Column("asset_tag", _("asset tag")),
            Column("contractor", _("contractor")),
            Column("declaration", _("declaration"), kind="number"),
            Column("request", _("access request"), kind="number"),
            Column("submitted_at", _("submitted at"), kind="datetime"),
            Column("submitted_by", _("submitted by")),
            Column("approved_at", _("approved at"), kind="datetime"),
            Column("approved_by", _("approved by")),
            Column("checked_out_at", _("checked out at"), kind="datetime"),
            Column("handed_out_by", _("handed out by")),
            Column("operator", _("operator who received it")),
            Column("due_at", _("due"), kind="datetime"),
            Column("reveals", _("reveals"), kind="number"),
            Column("revealed_at", _("revealed at"), kind="datetime"),
            Column("returned_at", _("returned at"), kind="datetime"),
            Column("received_by", _("received by")),
            Column("condition", _("condition"), choices=_choices(ReturnCondition.choices)),
            Column("revoked_at", _("revoked at"), kind="datetime"),
            Column("status", _("status"), choices=_choices(LoanStatus.choices)),
            Column("rotation", _("rotation after the return"), choices=ROTATION_AFTER_RETURN),
            Column("rotated_at", _("rotated at"), kind="datetime"),
        ),
        loan_rows,
    ),
    SectionSpec(
        "reveals",
        _("Reveals and re-reveal approvals"),
        _("Every time a login ID and password were shown, and every approval of one more reveal."),
        (
            Column("time", _("time"), kind="datetime"),
            Column("event", _("event"), choices=REVEAL_EVENTS),
            Column("by", _("by"), choices=_ACTOR),
            Column("account", _("account"), kind="number"),
            Column("target_system", _("target system")),
            Column("login_id", _("login ID")),
            Column("version", _("version"), kind="number"),
            Column("asset_tag", _("asset tag")),
            Column("loan", _("loan"), kind="number"),
            Column("contractor", _("contractor")),
            Column("again", _("again"), choices=_YES_NO),
            Column("reason", _("reason")),
        ),
        reveal_rows,
    ),
    SectionSpec(
        "rotations",
        _("Rotations and failures"),
        _("Every rotation requested or finished in the period."),
        (
            Column("rotation", _("rotation"), kind="number"),
            Column("account", _("account"), kind="number"),
            Column("target_system", _("target system")),
            Column("asset_tag", _("asset tag")),
            Column("reason", _("reason"), choices=_choices(RotationReason.choices)),
            Column("status", _("status"), choices=_choices(RotationStatus.choices)),
            Column("requested_at", _("requested at"), kind="datetime"),
            Column("requested_by", _("requested by"), choices=_ACTOR),
            Column("finished_at", _("finished at"), kind="datetime"),
            Column("attempts", _("attempts"), kind="number"),
            Column("new_login_id", _("new login ID")),
            Column("last_error", _("last error")),
        ),
        rotation_rows,
    ),
    SectionSpec(
        "stocktakes",
        _("Stock-takes"),
        _("Every stock-take open, under review or completed during the period."),
        (
            Column("stocktake", _("stock-take"), kind="number"),
            Column("site", _("site")),
            Column("reason", _("reason"), choices=_choices(StockTakeReason.choices)),
            Column("status", _("status"), choices=_choices(StockTakeStatus.choices)),
            Column("blind", _("blind count"), choices=_YES_NO),
            Column("opened_at", _("opened at"), kind="datetime"),
            Column("opened_by", _("opened by"), choices=_ACTOR),
            Column("due_at", _("due"), kind="datetime"),
            Column("closed_at", _("closed at"), kind="datetime"),
            Column("closed_by", _("closed by")),
            Column("completed_at", _("completed at"), kind="datetime"),
            Column("expected", _("expected"), kind="number"),
            Column("scanned", _("scanned"), kind="number"),
            Column("findings", _("findings"), kind="number"),
            Column("open_findings", _("open findings"), kind="number"),
        ),
        stocktake_rows,
    ),
    SectionSpec(
        "stocktake_findings",
        _("Stock-take findings"),
        _("The discrepancies those stock-takes found and how each was resolved."),
        (
            Column("finding", _("finding"), kind="number"),
            Column("stocktake", _("stock-take"), kind="number"),
            Column("kind", _("kind"), choices=_choices(DiscrepancyKind.choices)),
            Column("subject", _("subject")),
            Column("asset_tag", _("asset tag")),
            Column("location", _("location")),
            *_FINDING_REVIEW,
        ),
        stocktake_finding_rows,
    ),
    SectionSpec(
        "sign_in_findings",
        _("Access-log findings"),
        _("Sign-ins the access-log analysis found suspicious, and how each was resolved."),
        (
            Column("finding", _("finding"), kind="number"),
            Column("kind", _("kind"), choices=_choices(DiscrepancyKind.choices)),
            Column("signed_in_at", _("signed in at"), kind="datetime"),
            Column("login_id", _("login ID")),
            Column("result", _("result"), choices=_choices(SignInResult.choices)),
            Column("target_system", _("target system")),
            Column("source_host", _("source host")),
            Column("source_address", _("source address")),
            Column("log_line", _("log line"), kind="number"),
            Column("account", _("account"), kind="number"),
            Column("asset_tag", _("asset tag")),
            Column("loan", _("loan"), kind="number"),
            Column("contractor", _("contractor")),
            Column("expected", _("expected instead"), phrase_key="expected_phrase"),
            Column("expected_phrase", _("expected instead (system)")),
            Column("subject", _("subject")),
            *_FINDING_REVIEW,
        ),
        sign_in_finding_rows,
    ),
    SectionSpec(
        "accounts",
        _("Accounts created and deleted"),
        _("Every account (login ID on a target system) created or deleted in the period."),
        (
            Column("time", _("time"), kind="datetime"),
            Column("event", _("event"), choices=ACCOUNT_EVENTS),
            Column("by", _("by"), choices=_ACTOR),
            Column("account", _("account"), kind="number"),
            Column("target_system", _("target system")),
            Column("asset_tag", _("asset tag")),
            Column("login_id", _("login ID")),
        ),
        account_rows,
    ),
    SectionSpec(
        "arrangements",
        _("Time-boxed arrangements"),
        _(
            "Every arrangement in force during the period: what it covered, its extensions, "
            "and how it ended."
        ),
        (
            Column("arrangement", _("arrangement"), kind="number"),
            Column("title", _("title")),
            Column("reason", _("reason")),
            Column("parties", _("parties")),
            Column("terminals", _("terminals")),
            Column("accounts", _("accounts")),
            Column("proposed_by", _("proposed by")),
            Column("approved_by", _("approved by")),
            Column("starts_at", _("starts"), kind="datetime"),
            Column("ends_at", _("hard end"), kind="datetime"),
            Column("extensions", _("extensions")),
            Column("status", _("status"), choices=_choices(ArrangementStatus.choices)),
            Column("ended_at", _("ended at"), kind="datetime"),
            Column("loans", _("loans"), kind="number"),
            Column("loans_still_out", _("loans still out"), kind="number"),
        ),
        arrangement_rows,
    ),
    SectionSpec(
        "supervision_exceptions",
        _("Exceptions to contractor supervision"),
        _(
            "Every exception a security officer granted in the period, and the check-outs "
            "that used it."
        ),
        (
            Column("exception", _("exception"), kind="number"),
            Column("contractor", _("contractor")),
            Column("operator", _("operator")),
            Column("declaration", _("declaration"), kind="number"),
            Column("reason", _("reason")),
            Column("granted_by", _("granted by")),
            Column("granted_at", _("granted at"), kind="datetime"),
            Column("expires_at", _("expires at"), kind="datetime"),
            Column("check_outs", _("check-outs"), kind="number"),
        ),
        supervision_exception_rows,
    ),
    SectionSpec(
        "audit_chain",
        _("Audit trail verification"),
        _(
            "The hash chain of the audit trail, checked with its signed checkpoints when the "
            "report was produced."
        ),
        (
            Column("verified_at", _("verified at"), kind="datetime"),
            Column("result", _("result"), choices=CHAIN_RESULTS),
            Column("chain_events_verified", _("events verified in the chain"), kind="number"),
            Column("period_events", _("events in the period"), kind="number"),
            Column("period_first_seq", _("first sequence number"), kind="number"),
            Column("period_last_seq", _("last sequence number"), kind="number"),
            Column("unsealed_in_period", _("events not sealed yet"), kind="number"),
            Column("break_seq", _("break at sequence number"), kind="number"),
            Column("break_reason", _("break"), choices=CHAIN_BREAK_REASONS),
        ),
        lambda period: [chain_verification(period)],
    ),
)
SECTIONS_BY_NAME = {spec.name: spec for spec in SECTIONS}


@dataclass(frozen=True)
class BuiltSection:
    name: str
    position: int
    rows: int
    csv: str
    sha256: str


def build_sections(period: Period) -> list[BuiltSection]:
    """Every section of a report over the period, as the CSV files it is stored as. What the
    system wrote as phrases goes into the files in English, whoever asked for the report."""
    built = []
    for position, spec in enumerate(SECTIONS):
        with translation.override("en"):
            rows = spec.build(period)
        text = section_csv(spec, rows)
        built.append(BuiltSection(spec.name, position, len(rows), text, csv_sha256(text)))
    return built


# Producing: one function per transition -------------------------------------------------------


def audit_report_request(*, actor: User, period_start: date, period_end: date) -> AuditReport:
    """Record the request (the report is PRODUCING) and have a worker produce it after the
    commit; a broker that is down loses nothing: the sweeper sends it again."""
    errors = audit_report_period_errors(period_start, period_end)
    if errors:
        raise InvalidInput(gettext("The report was not requested."), field_errors=errors)
    with transaction.atomic():
        report = AuditReport.objects.create(
            period_start=period_start, period_end=period_end, produced_by=actor
        )
        record_event(
            actor=actor,
            action="audit_report.requested",
            obj=report,
            details={
                "period_start": period_start.isoformat(),
                "period_end": period_end.isoformat(),
            },
        )
        report_id = report.pk
        transaction.on_commit(lambda: _send(report_id))
    return report


def _send(report_id: int) -> None:
    if not enqueue(PRODUCE_TASK, report_id):
        logger.warning("audit report %s was not sent; the sweeper will resend it", report_id)


def audit_report_produce(*, report_id: int) -> AuditReport | None:
    """Build the report's sections, store them with their digests and mark it READY with the
    `audit_report.produced` event; any failure marks it FAILED. Sent twice (the sweeper, a slow
    worker), the second finds it READY and does nothing."""
    report = AuditReport.objects.filter(pk=report_id).first()
    if report is None or report.status != AuditReportStatus.PRODUCING:
        return report
    period = Period(report.period_start, report.period_end)
    try:
        # Outside the transaction: verifying the chain seals what is pending, which waits for
        # open transactions to end (core.sealer), ours included.
        with translation.override("en"):
            sections = build_sections(period)
    except Exception as exc:  # reported on the page; the worker's log has the traceback
        logger.exception("audit report %s could not be produced", report_id)
        return audit_report_fail(report_id=report_id, error=f"{type(exc).__name__}: {exc}")
    return _mark_ready(report_id, sections)


@transaction.atomic
def _mark_ready(report_id: int, sections: list[BuiltSection]) -> AuditReport:
    report = AuditReport.objects.select_for_update().get(pk=report_id)
    if report.status != AuditReportStatus.PRODUCING:
        return report  # another worker got there first
    check_transition(report, AuditReportStatus.READY)
    AuditReportSection.objects.bulk_create(
        AuditReportSection(
            report=report,
            name=section.name,
            position=section.position,
            rows=section.rows,
            csv=section.csv,
            sha256=section.sha256,
        )
        for section in sections
    )
    digest = report_digest((section.name, section.sha256) for section in sections)
    chain = next((s for s in sections if s.name == "audit_chain"), None)
    report.status = AuditReportStatus.READY
    report.produced_at = timezone.now()
    report.digest = digest
    report.chain_verification = _chain_from_csv(chain.csv) if chain else {}
    report.save(update_fields=["status", "produced_at", "digest", "chain_verification"])
    record_event(
        actor=None,
        action="audit_report.produced",
        obj=report,
        details={
            "period_start": report.period_start.isoformat(),
            "period_end": report.period_end.isoformat(),
            "digest": digest,
            "sections": {section.name: section.sha256 for section in sections},
            "requested_by": report.produced_by.get_username(),
        },
    )
    return report


def _chain_from_csv(text: str) -> dict[str, str]:
    header, rows = read_csv(text)
    return dict(zip(header, rows[0], strict=False)) if rows else {}


@transaction.atomic
def audit_report_fail(*, report_id: int, error: str) -> AuditReport:
    report = AuditReport.objects.select_for_update().get(pk=report_id)
    if report.status != AuditReportStatus.PRODUCING:
        return report
    check_transition(report, AuditReportStatus.FAILED)
    report.status = AuditReportStatus.FAILED
    report.error = error[:2000]
    report.save(update_fields=["status", "error"])
    record_event(
        actor=None, action="audit_report.failed", obj=report, details={"error": error[:500]}
    )
    return report


def audit_reports_resend_stale(*, older_than_seconds: int | None = None) -> int:
    """Send again every report still PRODUCING after a while: its message was lost (a broker
    that was down) or its worker died. A report sent twice is produced once."""
    wait = (
        older_than_seconds
        if older_than_seconds is not None
        else settings.AUDIT_REPORT_RESEND_AFTER_SECONDS
    )
    cutoff = timezone.now() - timedelta(seconds=wait)
    ids = list(
        AuditReport.objects.filter(status=AuditReportStatus.PRODUCING, requested_at__lt=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for report_id in ids:
        _send(report_id)
    return len(ids)


# Verifying -----------------------------------------------------------------------------------


@dataclass
class Verification:
    """Whether the stored CSV files are still those the audit trail recorded."""

    unchanged: bool
    problems: list[str]
    changed_sections: list[str]
    recorded_digest: str
    computed_digest: str


def audit_report_verify(report: AuditReport) -> Verification | None:
    """Recompute each section's sha256 and the report's digest from the stored CSV files and
    compare them with the `audit_report.produced` event; None while the report is not READY."""
    if report.status != AuditReportStatus.READY:
        return None
    sections = list(report.sections.order_by("position").values_list("name", "csv", "sha256"))
    computed = [(name, csv_sha256(text)) for name, text, _stored in sections]
    computed_digest = report_digest(computed)
    event = events_about(report).filter(action="audit_report.produced").order_by("id").first()
    problems: list[str] = []
    recorded_sections: dict[str, str] = {}
    recorded_digest = ""
    if event is None:
        problems.append(gettext("No audit event records this report's digest."))
    else:
        recorded_digest = str(event.details.get("digest", ""))
        recorded_sections = dict(event.details.get("sections") or {})
        if event.seq is not None and event.hash != event.compute_hash():
            problems.append(
                gettext("The audit event that records the digest was altered after it was sealed.")
            )
    changed = [
        name for name, digest in computed if recorded_sections.get(name, digest) != digest
    ] + [name for name in recorded_sections if name not in dict(computed)]
    for name in changed:
        spec = SECTIONS_BY_NAME.get(name)
        problems.append(
            gettext("The CSV file of “%(section)s” was changed after the report was produced.")
            % {"section": spec.title if spec else name}
        )
    if event is not None and computed_digest != recorded_digest:
        problems.append(
            gettext("The report's digest does not match the one recorded in the audit trail.")
        )
    if report.digest and report.digest != recorded_digest and event is not None:
        problems.append(gettext("The digest stored with the report was changed."))
    return Verification(
        unchanged=not problems,
        problems=problems,
        changed_sections=changed,
        recorded_digest=recorded_digest,
        computed_digest=computed_digest,
    )


def audit_report_manifest(report: AuditReport) -> str:
    return manifest(report.sections.order_by("position").values_list("name", "sha256"))
