"""The inventory as CSV files that Excel opens and saves ("CSV UTF-8").

Imports check every row before writing any, then write all rows through the services in one
transaction, so a file is either imported whole (each row with its audit event) or not at all.
A terminal file is previewed first (created / changed field by field / unchanged / errors),
and the export's file imports back as it is: a tag already in the inventory updates the
terminal's changed columns.
"""

import codecs
import csv
import hashlib
import hmac
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.translation import gettext as _

from core import input_limits
from core.errors import InvalidInput, RuleViolation
from core.identifiers import normalise_code, normalise_identifier
from core.models import Organization, User
from core.spreadsheets import BOM, FORMULA_STARTS, safe_cell
from terminals import services
from terminals.models import Location, Terminal
from terminals.validators import identifier_errors, normalise_hostname, validate_hostname

TERMINAL_COLUMNS = (
    "asset_tag",
    "serial_number",
    "hostname",
    "model",
    "location",
    "custodian",
    "notes",
)
# Written by the export so people can read it. The importer accepts both: status is checked
# against an existing terminal's (an import never changes a status; empty: not checked) and not
# read for a new one, which always enters the inventory in storage; site follows from the
# location and is never read.
TERMINAL_EXPORT_ONLY_COLUMNS = ("status", "site")
LOCATION_COLUMNS = ("code", "name", "kind", "parent", "custodian", "secured", "address")

# Columns that hold a code (a location's, an organization's), read in its one form: HONTEN in a
# file is the site honten.
_CODE_COLUMNS = frozenset({"code", "location", "custodian", "parent"})
# CSV column -> model field, where they differ.
_TERMINAL_FIELDS = {"model": "model_name"}
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no", ""})  # an empty cell: not secured
_EXPORT_CHUNK_SIZE = 2000


@dataclass(frozen=True)
class RowError:
    """One problem in a file: `row` is the line number (the header is row 1), `field` the column."""

    row: int
    field: str
    message: str

    def __str__(self) -> str:
        if self.field:
            return _("row %(row)d, %(field)s: %(message)s") % {
                "row": self.row,
                "field": self.field,
                "message": self.message,
            }
        return _("row %(row)d: %(message)s") % {"row": self.row, "message": self.message}


class CsvImportError(InvalidInput):
    """The file was refused; `errors` lists every problem found, and nothing was written."""

    def __init__(self, errors: list[RowError]):
        super().__init__(
            _("The file was not imported; nothing was saved."),
            field_errors={"file": [str(error) for error in errors]},
        )
        self.errors = errors


@dataclass(frozen=True)
class _Row:
    line: int
    values: dict[str, str]


# Reading --------------------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CsvImportError(
            [
                RowError(
                    line,
                    "",
                    _(
                        "This line is not UTF-8 text. In Excel, save the file as "
                        '"CSV UTF-8 (comma delimited)" and upload it again.'
                    ),
                )
            ]
        ) from exc
    # No text holds a NUL character (PostgreSQL refuses one in a text column): the file is not
    # what it seems, so it is refused before any of its rows is read.
    if (nul := text.find("\x00")) >= 0:
        raise CsvImportError(
            [RowError(text.count("\n", 0, nul) + 1, "", str(input_limits.NUL_MESSAGE))]
        )
    return text


def _cell(value: str) -> str:
    value = value.strip()
    if len(value) > 1 and value[0] == "'" and value[1] in FORMULA_STARTS:
        return value[1:]
    return value


def _read(
    data: bytes, *, accepted: tuple[str, ...], required: tuple[str, ...]
) -> tuple[list[_Row], list[RowError]]:
    """The rows as column -> stripped value, and the rows that do not fit the header.

    Raises at once on a file that cannot be read or a bad header: its rows mean nothing then.
    """
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    records: list[tuple[int, list[str]]] = []
    line = 1
    max_rows = input_limits.csv_max_rows()
    try:
        for record in reader:
            # Blank lines, and lines of empty cells that Excel leaves below a table, carry nothing.
            if any(value.strip() for value in record):
                records.append((line, record))
                if len(records) > max_rows + 1:  # the header is not a row
                    raise CsvImportError([RowError(line, "", input_limits.csv_rows_message())])
            line = reader.line_num + 1
    except csv.Error as exc:
        raise CsvImportError(
            [RowError(line, "", _("This line is not valid CSV: %(error)s") % {"error": exc})]
        ) from exc
    if not records:
        raise CsvImportError([RowError(1, "", _("The file is empty."))])

    (header_line, header), *body = records
    columns = [name.strip().lower() for name in header]
    errors = []
    seen: set[str] = set()
    for name in columns:
        if name not in accepted:
            errors.append(
                RowError(
                    header_line,
                    name,
                    _("Unknown column. The columns are: %(columns)s.")
                    % {"columns": ", ".join(accepted)},
                )
            )
        elif name in seen:
            errors.append(RowError(header_line, name, _("This column appears more than once.")))
        seen.add(name)
    errors.extend(
        RowError(header_line, name, _("This required column is missing."))
        for name in required
        if name not in seen
    )
    if not errors and not body:
        errors.append(RowError(header_line, "", _("The file has a header but no rows.")))
    if errors:
        raise CsvImportError(errors)

    rows = []
    for line, record in body:
        if len(record) != len(columns):
            errors.append(
                RowError(
                    line,
                    "",
                    _("This row has %(count)d values; the header has %(expected)d.")
                    % {"count": len(record), "expected": len(columns)},
                )
            )
            continue
        values = dict.fromkeys(accepted, "")
        values.update(zip(columns, (_cell(value) for value in record), strict=True))
        for column in _CODE_COLUMNS.intersection(values):
            values[column] = normalise_code(values[column])
        rows.append(_Row(line, values))
    return rows, errors


def _field_errors(model: type[models.Model], field: str, value: str) -> list[str]:
    """The model field's own checks (length, slug, blank), with Django's translated messages."""
    try:
        model._meta.get_field(field).clean(value, None)
    except ValidationError as exc:
        return exc.messages
    return []


def _service_errors(line: int, exc: InvalidInput, columns: dict[str, str]) -> list[RowError]:
    """A refusal by a service while writing (a race with another writer) as row errors."""
    errors = [
        RowError(line, columns.get(field, field), message)
        for field, messages in exc.field_errors.items()
        for message in messages
    ]
    return errors or [RowError(line, "", exc.message)]


# Terminals ------------------------------------------------------------------------------------

# What a row of a terminal file does, as the preview shows it.
CREATE = "create"
UPDATE = "update"
UNCHANGED = "unchanged"
ERROR = "error"
OUTCOMES = (CREATE, UPDATE, UNCHANGED, ERROR)

# The columns an import may change on a terminal already in the inventory (the edit page's
# fields). Its location and status change only on its move and status pages (or its loan).
UPDATABLE_COLUMNS = ("serial_number", "hostname", "model", "custodian", "notes")


@dataclass(frozen=True)
class FieldChange:
    """One column of one row: its value in the inventory and in the file (codes for links)."""

    column: str
    old: str
    new: str


@dataclass(frozen=True)
class RowPreview:
    line: int
    asset_tag: str
    outcome: str
    changes: tuple[FieldChange, ...] = ()
    errors: tuple[RowError, ...] = ()


@dataclass(frozen=True)
class _Write:
    line: int
    terminal: Terminal | None  # None: a new terminal
    fields: dict[str, Any]


@dataclass(frozen=True)
class TerminalImportPreview:
    """What applying a terminal file would do, row by row; computing it writes nothing.

    `token` is a digest of the file's bytes and of every row's outcome, changes (old and new
    values) and errors: applying recomputes the preview under lock and goes ahead only when
    the token is the same, so what is written is exactly what the person saw.
    """

    rows: tuple[RowPreview, ...]
    token: str
    writes: tuple[_Write, ...] = dataclass_field(repr=False, compare=False)

    @property
    def errors(self) -> list[RowError]:
        return [error for row in self.rows for error in row.errors]

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for row in self.rows:
            counts[row.outcome] += 1
        return counts

    @property
    def can_apply(self) -> bool:
        return not self.errors and bool(self.writes)


@dataclass(frozen=True)
class TerminalImportResult:
    created: list[Terminal]
    updated: list[Terminal]
    unchanged: int


class ImportPreviewOutdated(RuleViolation):
    """The file or the inventory is not what the preview showed; `preview` is the new one."""

    def __init__(self, preview: TerminalImportPreview):
        super().__init__(
            _(
                "Nothing was saved: the inventory changed since the preview, or the file is "
                "not the one previewed. Check the new preview and apply it again."
            )
        )
        self.preview = preview


def _same_text(old: str, new: str) -> bool:
    """Equal but for line ends: a page's text area sends CRLF, Excel may save LF."""
    return old.replace("\r\n", "\n") == new.replace("\r\n", "\n")


def _digest(data: bytes, rows: list[RowPreview]) -> str:
    # Error messages are left out: they follow the page's language, the outcome does not.
    outline = [
        [
            row.line,
            row.asset_tag,
            row.outcome,
            [[change.column, change.old, change.new] for change in row.changes],
            [[error.row, error.field] for error in row.errors],
        ]
        for row in rows
    ]
    digest = hashlib.sha256(data)
    digest.update(b"\0" + json.dumps(outline, ensure_ascii=False).encode())
    return digest.hexdigest()


def _status_error(line: int, terminal: Terminal, value: str) -> RowError | None:
    """A status in the file that is not the terminal's: the import does not change statuses."""
    status = value.lower()
    if not status or status == terminal.status:
        return None
    if status not in Terminal.Status.values:
        return RowError(
            line,
            "status",
            _("Unknown status %(value)s. The statuses are: %(statuses)s.")
            % {"value": value, "statuses": ", ".join(Terminal.Status.values)},
        )
    current = Terminal.Status(terminal.status)
    if current in (Terminal.Status.RESERVED, Terminal.Status.LENT):
        message = _(
            "Terminal %(tag)s is %(status)s: its status changes only through its loan, "
            "not by import."
        )
    else:
        message = _(
            "Terminal %(tag)s is %(status)s. An import does not change statuses: use the "
            "terminal's status page."
        )
    return RowError(line, "status", message % {"tag": terminal.asset_tag, "status": current.label})


def preview_terminals_csv(*, actor: User | None, data: bytes) -> TerminalImportPreview:
    """Each row as a create, an update of the changed columns, unchanged, or errors.

    Raises CsvImportError at once for a file that cannot be read or has a bad header.
    """
    return _plan_terminals(actor=actor, data=data, lock=False)


def _plan_terminals(*, actor: User | None, data: bytes, lock: bool) -> TerminalImportPreview:
    rows, read_errors = _read(
        data,
        accepted=TERMINAL_COLUMNS + TERMINAL_EXPORT_ONLY_COLUMNS,
        required=("asset_tag", "location"),
    )
    locations = Location.objects.select_related("custodian").in_bulk(
        {row.values["location"] for row in rows}, field_name="code"
    )
    organizations = Organization.objects.in_bulk(
        {row.values["custodian"] for row in rows}, field_name="code"
    )
    existing_qs = Terminal.objects.select_related("location", "custodian").filter(
        asset_tag__in={normalise_identifier(row.values["asset_tag"]) for row in rows}
    )
    if lock:
        existing_qs = existing_qs.select_for_update(of=("self",))
    existing = {terminal.asset_tag: terminal for terminal in existing_qs}
    may_change = actor is None or actor.has_perm("terminals.change_terminal")

    previews = [RowPreview(error.row, "", ERROR, errors=(error,)) for error in read_errors]
    writes: list[_Write] = []
    first_line_of_tag: dict[str, int] = {}
    for row in rows:
        v = dict(row.values)
        v["hostname"] = normalise_hostname(v["hostname"])
        row_errors = [
            RowError(row.line, column, message)
            for column in ("asset_tag", "serial_number", "hostname", "model", "notes")
            for message in _field_errors(Terminal, _TERMINAL_FIELDS.get(column, column), v[column])
        ]
        tag = normalise_identifier(v["asset_tag"])
        terminal = existing.get(tag) if tag else None
        if terminal is None and tag:
            row_errors.extend(
                RowError(row.line, "asset_tag", message) for message in identifier_errors(tag)
            )
        # A hostname recorded before the rule existed may stay as it is; a new one must fit.
        too_long = any(error.field == "hostname" for error in row_errors)
        if not too_long and (
            terminal is None or normalise_hostname(terminal.hostname) != v["hostname"]
        ):
            try:
                validate_hostname(v["hostname"])
            except ValidationError as exc:
                row_errors.extend(
                    RowError(row.line, "hostname", message) for message in exc.messages
                )
        if tag and tag in first_line_of_tag:
            row_errors.append(
                RowError(
                    row.line,
                    "asset_tag",
                    _("The asset tag %(tag)s is already on row %(row)d of this file.")
                    % {"tag": tag, "row": first_line_of_tag[tag]},
                )
            )
        first_line_of_tag.setdefault(tag, row.line)

        location = locations.get(v["location"])
        if not v["location"]:
            row_errors.append(RowError(row.line, "location", _("A location is required.")))
        elif location is None:
            row_errors.append(
                RowError(
                    row.line,
                    "location",
                    _("Unknown location code: %(code)s.") % {"code": v["location"]},
                )
            )
        custodian = organizations.get(v["custodian"]) if v["custodian"] else None
        if v["custodian"] and custodian is None:
            row_errors.append(
                RowError(
                    row.line,
                    "custodian",
                    _("Unknown organization code: %(code)s.") % {"code": v["custodian"]},
                )
            )

        changes: list[FieldChange] = []
        fields: dict[str, Any] = {}
        if terminal is None:
            # A new terminal enters the inventory in storage: status and site are not read.
            if location is not None:
                fields = {
                    "asset_tag": tag,
                    "location": location,
                    "custodian": custodian or location.custodian,
                    "serial_number": v["serial_number"],
                    "hostname": v["hostname"],
                    "model_name": v["model"],
                    "notes": v["notes"],
                }
                shown = {
                    "serial_number": v["serial_number"],
                    "hostname": v["hostname"],
                    "model": v["model"],
                    "location": location.code,
                    "custodian": fields["custodian"].code,
                    "notes": v["notes"],
                }
                changes = [FieldChange(column, "", new) for column, new in shown.items() if new]
        else:
            if not may_change:
                row_errors.append(
                    RowError(
                        row.line,
                        "asset_tag",
                        _("A terminal with asset tag %(tag)s already exists.") % {"tag": tag},
                    )
                )
            if location is not None and location.pk != terminal.location_id:
                row_errors.append(
                    RowError(
                        row.line,
                        "location",
                        _(
                            "Terminal %(tag)s is at %(current)s. An import does not move "
                            "terminals: use the terminal's move page."
                        )
                        % {"tag": tag, "current": terminal.location.code},
                    )
                )
            status_error = _status_error(row.line, terminal, v["status"])
            if status_error:
                row_errors.append(status_error)
            # An empty custodian keeps the terminal's; every other empty cell empties the field.
            new_custodian = custodian or terminal.custodian
            compared = [
                ("serial_number", "serial_number", terminal.serial_number, v["serial_number"]),
                ("hostname", "hostname", terminal.hostname, v["hostname"]),
                ("model", "model_name", terminal.model_name, v["model"]),
                ("custodian", "custodian", terminal.custodian.code, new_custodian.code),
                ("notes", "notes", terminal.notes, v["notes"]),
            ]
            for column, name, old, new in compared:
                # A hostname is stored in lower case: NWPC-1 in the inventory is nwpc-1.
                if column == "hostname":
                    same = normalise_hostname(old) == new
                else:
                    same = _same_text(old, new)
                if same:
                    fields[name] = getattr(terminal, name)
                else:
                    changes.append(FieldChange(column, old, new))
                    fields[name] = new_custodian if name == "custodian" else new

        if row_errors:
            outcome = ERROR
            changes = []
        elif terminal is None:
            outcome = CREATE
            writes.append(_Write(row.line, None, fields))
        elif changes:
            outcome = UPDATE
            writes.append(_Write(row.line, terminal, fields))
        else:
            outcome = UNCHANGED
        previews.append(RowPreview(row.line, tag, outcome, tuple(changes), tuple(row_errors)))

    previews.sort(key=lambda preview: preview.line)
    return TerminalImportPreview(
        rows=tuple(previews), token=_digest(data, previews), writes=tuple(writes)
    )


def apply_terminals_csv(
    *, actor: User | None, data: bytes, token: str | None
) -> TerminalImportResult:
    """Write every create and update of the file through the services (each with its audit
    event) in one transaction, or nothing.

    The preview is computed again inside the transaction with the file's terminals locked;
    with a `token` (from the preview the person saw), a different outcome raises
    ImportPreviewOutdated. Any row error raises CsvImportError.
    """
    with transaction.atomic():
        preview = _plan_terminals(actor=actor, data=data, lock=True)
        if token is not None and not hmac.compare_digest(preview.token, token):
            raise ImportPreviewOutdated(preview)
        if preview.errors:
            raise CsvImportError(preview.errors)
        created: list[Terminal] = []
        updated: list[Terminal] = []
        for write in preview.writes:
            try:
                if write.terminal is None:
                    created.append(services.terminal_create(actor=actor, **write.fields))
                else:
                    updated.append(
                        services.terminal_update(
                            terminal=write.terminal, actor=actor, **write.fields
                        )
                    )
            except InvalidInput as exc:
                # Raised inside the block, so every row written so far is rolled back.
                raise CsvImportError(
                    _service_errors(write.line, exc, {"model_name": "model"})
                ) from exc
    return TerminalImportResult(
        created=created, updated=updated, unchanged=preview.counts[UNCHANGED]
    )


def import_terminals_csv(*, actor: User | None, data: bytes) -> list[Terminal]:
    """Preview and apply in one go (the import_csv command): the terminals written, or none.

    Columns: asset_tag and location (a location code) are required; custodian is an
    organization code (empty: the location's for a new terminal, unchanged for an existing
    one); serial_number, hostname, model and notes are optional. A new tag creates a terminal
    in storage; a tag in the inventory updates the columns that differ; a location or status
    that differs from the terminal's is an error. The export's site column is not read.
    """
    result = apply_terminals_csv(actor=actor, data=data, token=None)
    return result.created + result.updated


class _Echo:
    """A file whose write() hands the CSV line back, so rows can be streamed one by one."""

    def write(self, value: str) -> str:
        return value


def export_terminals_csv(queryset: models.QuerySet[Terminal]) -> Iterator[str]:
    """CSV text in chunks, BOM first (Excel reads Japanese right); re-imports as it is."""
    writer = csv.writer(_Echo())
    yield BOM + writer.writerow(TERMINAL_COLUMNS + TERMINAL_EXPORT_ONLY_COLUMNS)
    terminals = queryset.select_related("location", "location__site", "custodian")
    for terminal in terminals.iterator(chunk_size=_EXPORT_CHUNK_SIZE):
        site = terminal.location.site
        yield writer.writerow(
            [
                safe_cell(value)
                for value in (
                    terminal.asset_tag,
                    terminal.serial_number,
                    terminal.hostname,
                    terminal.model_name,
                    terminal.location.code,
                    terminal.custodian.code,
                    terminal.notes,
                    terminal.status,
                    site.code if site else "",
                )
            ]
        )


# Locations ------------------------------------------------------------------------------------


def _parse_bool(value: str) -> bool | None:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


def import_locations_csv(*, actor: User | None, data: bytes) -> list[Location]:
    """Create one location per row, or none.

    Columns: code, name and kind are required; parent is a location code (empty for a site)
    that exists already or comes on an earlier row; custodian is an organization code and
    defaults to the parent's; secured is true/false, 1/0 or yes/no (empty: false).
    """
    rows, errors = _read(data, accepted=LOCATION_COLUMNS, required=("code", "name", "kind"))
    parents_in_db = Location.objects.select_related("custodian").in_bulk(
        {row.values["parent"] for row in rows}, field_name="code"
    )
    organizations = Organization.objects.in_bulk(
        {row.values["custodian"] for row in rows}, field_name="code"
    )
    first_line_of_code: dict[str, int] = {}
    for row in rows:
        first_line_of_code.setdefault(row.values["code"], row.line)

    # Earlier rows of this file: code -> (unsaved stand-in for nesting checks, custodian).
    in_file: dict[str, tuple[Location | None, Organization | None]] = {}
    plans: list[tuple[int, dict]] = []
    for row in rows:
        v = row.values
        code, kind, parent_code = v["code"], v["kind"].lower(), v["parent"]
        row_errors = [
            RowError(row.line, column, message)
            for column in ("code", "name", "address")
            for message in _field_errors(Location, column, v[column])
        ]
        if code and first_line_of_code[code] != row.line:
            row_errors.append(
                RowError(
                    row.line,
                    "code",
                    _("The code %(code)s is already on row %(row)d of this file.")
                    % {"code": code, "row": first_line_of_code[code]},
                )
            )

        parent: Location | None = None
        parent_known = True
        parent_custodian: Organization | None = None
        if parent_code in in_file:
            parent, parent_custodian = in_file[parent_code]
            parent_known = parent is not None
        elif parent_code in parents_in_db:
            parent = parents_in_db[parent_code]
            parent_custodian = parent.custodian
        elif parent_code:
            parent_known = False
            if parent_code == code:
                message = _("A location cannot be its own parent.")
            elif parent_code in first_line_of_code:
                message = _(
                    "The parent %(code)s comes later in the file (row %(row)d); "
                    "put parents above their children."
                ) % {"code": parent_code, "row": first_line_of_code[parent_code]}
            else:
                message = _("Unknown location code: %(code)s.") % {"code": parent_code}
            row_errors.append(RowError(row.line, "parent", message))

        for field, messages in services.location_errors(
            code=code, kind=kind, parent=parent
        ).items():
            # A parent that could not be resolved is reported once, above; and a code that
            # already failed its own checks needs no second message.
            if (field == "parent" and not parent_known) or (
                field == "code" and any(e.field == "code" for e in row_errors)
            ):
                continue
            row_errors.extend(RowError(row.line, field, message) for message in messages)

        custodian = organizations.get(v["custodian"]) if v["custodian"] else parent_custodian
        if v["custodian"] and custodian is None:
            row_errors.append(
                RowError(
                    row.line,
                    "custodian",
                    _("Unknown organization code: %(code)s.") % {"code": v["custodian"]},
                )
            )
        elif custodian is None and parent_known:
            row_errors.append(
                RowError(
                    row.line,
                    "custodian",
                    _("A custodian is required for a location without a parent."),
                )
            )

        secured = _parse_bool(v["secured"])
        if secured is None:
            row_errors.append(
                RowError(
                    row.line,
                    "secured",
                    _("Write true or false (or 1/0, yes/no), not %(value)s.")
                    % {"value": v["secured"]},
                )
            )

        errors.extend(row_errors)
        valid_kind = kind in Location.Kind.values
        if code and code not in in_file:
            # Children of a row with errors are checked against its kind when that is known,
            # so one bad row does not hide its children's own mistakes.
            in_file[code] = (Location(code=code, kind=kind) if valid_kind else None, custodian)
        if not row_errors:
            plans.append(
                (
                    row.line,
                    {
                        "code": code,
                        "name": v["name"],
                        "kind": kind,
                        "parent_code": parent_code,
                        "custodian": custodian,
                        "secured": secured,
                        "address": v["address"],
                    },
                )
            )
    if errors:
        raise CsvImportError(sorted(errors, key=lambda error: error.row))

    created: dict[str, Location] = {}
    with transaction.atomic():
        for line, fields in plans:
            parent_code = fields.pop("parent_code")
            parent = created.get(parent_code) or parents_in_db.get(parent_code)
            try:
                created[fields["code"]] = services.location_create(
                    actor=actor, parent=parent, **fields
                )
            except InvalidInput as exc:
                raise CsvImportError(_service_errors(line, exc, {})) from exc
    return list(created.values())


def export_locations_csv(queryset: models.QuerySet[Location]) -> Iterator[str]:
    """Locations as CSV in tree order, so that every parent comes before its children."""
    writer = csv.writer(_Echo())
    yield BOM + writer.writerow(LOCATION_COLUMNS)
    locations = queryset.select_related("parent", "custodian").order_by("path")
    for location in locations.iterator(chunk_size=_EXPORT_CHUNK_SIZE):
        yield writer.writerow(
            [
                safe_cell(value)
                for value in (
                    location.code,
                    location.name,
                    location.kind,
                    location.parent.code if location.parent else "",
                    location.custodian.code,
                    "true" if location.secured else "false",
                    location.address,
                )
            ]
        )
