"""Streaming readers of target systems' access logs: CSV and JSON lines read through the target's
AccessLogMapping, and OpenLDAP slapd's stats lines. Each reads a binary file object one line at a
time with a bounded `readline`, so memory stays flat whatever the file's size, and yields either a
ParsedEvent or a Malformed line (with its number and reason); a malformed line never stops the
file. A file that cannot be read at all (not text, a mapping that does not match its header) is
refused whole with FileRefused before anything is yielded.

No Django model is imported here: the ingestion service passes a MappingSpec and the target's
code, and stores what comes out."""

import csv
import hashlib
import ipaddress
import json
import re
import unicodedata
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import BinaryIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.translation import gettext as _

from core.errors import InvalidInput

# A line longer than this is counted malformed and skipped to its end, never held whole.
MAX_LINE_BYTES = 64 * 1024
# What the not-text check reads from the start of the file.
SAMPLE_BYTES = 8 * 1024
# A sample with more NUL bytes than this share is binary (or UTF-16), not a log to read.
MAX_NUL_SHARE = 0.01
MAX_LOGIN_ID = 64
MAX_HOST = 255
# slapd: BINDs waiting for their RESULT, and connections' addresses, kept at most this many.
MAX_PENDING = 100_000


class FileRefused(InvalidInput):
    """The whole file is refused: nothing of it is stored."""

    def __init__(self, message: str, *, field: str = "file"):
        super().__init__(message, field_errors={field: [message]})


@dataclass(frozen=True)
class MappingSpec:
    """What a CSV or JSON-lines log's columns mean (credentials-free copy of AccessLogMapping)."""

    time_column: str = "time"
    login_id_column: str = "login_id"
    result_column: str = "result"
    source_host_column: str = "host"
    source_address_column: str = "address"
    time_format: str = ""
    time_zone: str = "Asia/Tokyo"
    success_values: frozenset[str] = frozenset({"success", "ok", "0"})
    failure_values: frozenset[str] = frozenset({"failure", "fail", "failed", "denied", "1"})
    # Generated login IDs: this prefix, then lower-case letters and digits (credentials.generation)
    login_id_prefix: str = ""

    @property
    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise FileRefused(
                _("The mapping's time zone %(zone)s is unknown.") % {"zone": self.time_zone}
            ) from exc

    def required_columns(self) -> list[str]:
        return [
            name
            for name in (
                self.time_column,
                self.login_id_column,
                self.result_column,
                self.source_host_column,
                self.source_address_column,
            )
            if name
        ]


def split_values(text: str) -> frozenset[str]:
    return frozenset(v.strip().casefold() for v in text.split(",") if v.strip())


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    line_number: int
    occurred_at: datetime  # aware, UTC
    login_id: str
    result: str  # "success" or "failure" (compliance.models.SignInResult)
    source_host: str
    source_address: str | None
    raw_line: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Malformed:
    line_number: int
    reason: str


Item = ParsedEvent | Malformed


# Login IDs ------------------------------------------------------------------------------------


def normalise_login_id(value: str, prefix: str = "") -> str:
    """A login ID as the service generates them (credentials.generation): NFKC, trimmed, the
    target's prefix as configured and the random part in lower case. Directories match IDs
    without regard to case, so NWABC123 in a log is the account nwabc123 (prefix "nw")."""
    value = unicodedata.normalize("NFKC", value).strip()
    if prefix and value[: len(prefix)].casefold() == prefix.casefold():
        return prefix + value[len(prefix) :].lower()
    return value.lower()


def fingerprint(target_code: str, raw: str) -> str:
    return hashlib.sha256(f"{target_code}\n{raw}".encode()).hexdigest()


# Lines ----------------------------------------------------------------------------------------


def check_text(file: BinaryIO) -> None:
    """Refuse a file that is not text: NUL-heavy (binary, UTF-16) or not UTF-8 at its start.
    Reads the sample and puts the file back at its start."""
    sample = file.read(SAMPLE_BYTES)
    file.seek(0)
    if not sample:
        return
    if sample.count(b"\x00") > max(1, len(sample) * MAX_NUL_SHARE):
        raise FileRefused(_("This file is not text (it holds binary data): nothing was read."))
    first = sample.split(b"\n", 1)[0]
    if len(sample) == SAMPLE_BYTES and b"\n" not in sample:
        first = first[:-4]  # a character may be cut at the sample's end
    try:
        first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileRefused(
            _("This file is not UTF-8 text: nothing was read. Save it as UTF-8 and send it again.")
        ) from exc


@dataclass
class LineCount:
    """How far a parser has read: the number of the last line read."""

    lines: int = 0


def read_lines(
    file: BinaryIO, count: LineCount | None = None
) -> Iterator[tuple[int, str | None, str]]:
    """(line number, text without its line end or None, reason when None) for each line."""
    count = count if count is not None else LineCount()
    number = 0
    while True:
        line = file.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        count.lines = number
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            # Skip the rest of the line a piece at a time: never hold it.
            while True:
                rest = file.readline(MAX_LINE_BYTES)
                if not rest or rest.endswith(b"\n"):
                    break
            yield number, None, _("line longer than %(n)d KiB") % {"n": MAX_LINE_BYTES // 1024}
            continue
        line = line.rstrip(b"\r\n")
        if number == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]  # Excel's byte order mark
        if b"\x00" in line:
            yield number, None, _("NUL byte in the line")
            continue
        try:
            yield number, line.decode("utf-8"), ""
        except UnicodeDecodeError:
            yield number, None, _("not UTF-8 text")


# Fields ---------------------------------------------------------------------------------------


class _Bad(ValueError):
    """One field cannot be read: the line is malformed for this reason."""


def parse_time(value: str, spec: MappingSpec, zone: ZoneInfo) -> datetime:
    value = value.strip()
    if not value:
        raise _Bad(_("missing time"))
    try:
        if spec.time_format:
            moment = datetime.strptime(value, spec.time_format)
        else:
            moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        # OverflowError: a time at the edge of the calendar (year 1 or 9999) in another zone.
        return moment.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise _Bad(_("bad time: %(value)s") % {"value": value[:40]}) from exc


def parse_result(value: str, spec: MappingSpec) -> str:
    folded = value.strip().casefold()
    if folded in spec.success_values:
        return "success"
    if folded in spec.failure_values:
        return "failure"
    raise _Bad(_("unknown result value: %(value)s") % {"value": value[:40]})


def parse_login_id(value: str, spec: MappingSpec) -> str:
    login_id = normalise_login_id(value, spec.login_id_prefix)
    if not login_id:
        raise _Bad(_("missing login ID"))
    if len(login_id) > MAX_LOGIN_ID:
        raise _Bad(_("login ID longer than %(n)d characters") % {"n": MAX_LOGIN_ID})
    return login_id


# An IPv4 address already in its canonical form (no leading zeros): stored as written, without
# the ipaddress module's cost (most of a CSV line's parsing time otherwise).
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


def parse_address(value: str) -> str | None:
    value = value.strip()
    if value in ("", "-"):
        return None
    if _CANONICAL_IPV4.fullmatch(value):
        return value
    candidates = [value]
    if value.startswith("[") and "]" in value:  # [2001:db8::1]:443
        candidates.append(value[1 : value.index("]")])
    elif value.count(":") == 1:  # 192.0.2.1:50000
        candidates.append(value.split(":")[0])
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    raise _Bad(_("bad source address: %(value)s") % {"value": value[:40]})


def parse_host(value: str) -> str:
    host = value.strip().lower()
    if host == "-":
        return ""
    if len(host) > MAX_HOST:
        raise _Bad(_("source host longer than %(n)d characters") % {"n": MAX_HOST})
    return host


def _event(
    number: int, raw: str, row: dict[str, str], spec: MappingSpec, zone: ZoneInfo, code: str
) -> Item:
    try:
        return ParsedEvent(
            line_number=number,
            occurred_at=parse_time(row.get(spec.time_column, ""), spec, zone),
            login_id=parse_login_id(row.get(spec.login_id_column, ""), spec),
            result=parse_result(row.get(spec.result_column, ""), spec),
            source_host=parse_host(row.get(spec.source_host_column, ""))
            if spec.source_host_column
            else "",
            source_address=parse_address(row.get(spec.source_address_column, ""))
            if spec.source_address_column
            else None,
            raw_line=raw,
            fingerprint=fingerprint(code, raw),
        )
    except _Bad as bad:
        return Malformed(number, str(bad))


# CSV ------------------------------------------------------------------------------------------


def _csv_fields(text: str) -> list[str]:
    if '"' not in text:
        return text.split(",")  # no quoting: what the csv module would answer, faster
    return next(csv.reader([text]), [])


def csv_header(text: str, spec: MappingSpec) -> list[str]:
    """The header line's column names; the file is refused when a mapped column is missing."""
    header = [name.strip() for name in _csv_fields(text)]
    missing = [name for name in spec.required_columns() if name not in header]
    if missing:
        raise FileRefused(
            _(
                "The file's header does not match the target's mapping: no column "
                "%(missing)s (the header has %(header)s). Nothing was read."
            )
            % {
                "missing": ", ".join(missing),
                "header": ", ".join(header[:20])[:300],
            }
        )
    return header


def csv_item(
    number: int, text: str, header: list[str], spec: MappingSpec, zone: ZoneInfo, code: str
) -> Item | None:
    """One record line after the header; None for a blank line (not a record)."""
    if not text.strip():
        return None
    fields = _csv_fields(text)
    if len(fields) != len(header):
        return Malformed(
            number,
            _("%(n)d fields where the header has %(m)d") % {"n": len(fields), "m": len(header)},
        )
    return _event(number, text, dict(zip(header, fields, strict=True)), spec, zone, code)


def parse_csv(
    file: BinaryIO, *, spec: MappingSpec, target_code: str, count: LineCount | None = None
) -> Iterator[Item]:
    """CSV with a header line naming the mapping's columns; one record a line."""
    check_text(file)
    zone = spec.zone
    lines = read_lines(file, count)
    header: list[str] | None = None
    for number, text, reason in lines:
        if text is None:
            if header is None:
                raise FileRefused(_("The header line cannot be read: %(r)s.") % {"r": reason})
            yield Malformed(number, reason)
            continue
        if header is None:
            if text.strip():
                header = csv_header(text, spec)
            continue
        item = csv_item(number, text, header, spec, zone, target_code)
        if item is not None:
            yield item


# JSON lines -----------------------------------------------------------------------------------


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise _Bad(_("a field holds an object or a list"))


def parse_jsonl(
    file: BinaryIO, *, spec: MappingSpec, target_code: str, count: LineCount | None = None
) -> Iterator[Item]:
    """One JSON object a line, keyed as the mapping says. The first object that reads decides
    whether the mapping matches the file (its keys): if not, the file is refused."""
    check_text(file)
    zone = spec.zone
    checked = False
    for number, text, reason in read_lines(file, count):
        if text is None:
            yield Malformed(number, reason)
            continue
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except ValueError:
            yield Malformed(number, _("not a JSON object"))
            continue
        if not isinstance(obj, dict):
            yield Malformed(number, _("not a JSON object"))
            continue
        if not checked:
            missing = [name for name in spec.required_columns()[:3] if name not in obj]
            if missing:
                raise FileRefused(
                    _(
                        "The file's keys do not match the target's mapping: no key %(missing)s "
                        "in its first record. Nothing was read."
                    )
                    % {"missing": ", ".join(missing)}
                )
            checked = True
        try:
            row = {str(key): _as_text(value) for key, value in obj.items()}
        except _Bad as bad:
            yield Malformed(number, str(bad))
            continue
        yield _event(number, text, row, spec, zone, target_code)


# OpenLDAP slapd stats -------------------------------------------------------------------------

# What slapd 2.5 writes before the message: with `-d stats` (or `logfile`), the time as hex
# seconds and nanoseconds and the thread; through syslog, the BSD stamp (no year) or RFC 3339.
_DEBUG_PREFIX = re.compile(r"(?P<sec>[0-9a-f]{8,16})\.(?P<nsec>[0-9a-f]{8}) (?:0x)?[0-9a-f]+ ")
_SYSLOG_BSD = re.compile(
    r"(?P<stamp>[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d) \S+ slapd(?:\[\d+\])?: "
)
_SYSLOG_ISO = re.compile(
    r"(?P<stamp>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) "
    r"\S+ slapd(?:\[\d+\])?: "
)
_ACCEPT = re.compile(r"conn=(?P<conn>\d+) fd=\d+ ACCEPT from IP=(?P<ip>\S+?):\d+ ")
_ACCEPT_OTHER = re.compile(r"conn=(?P<conn>\d+) fd=\d+ ACCEPT from (?P<what>\S+)")
_BIND = re.compile(r'conn=(?P<conn>\d+) op=(?P<op>\d+) BIND dn="(?P<dn>(?:[^"\\]|\\.)*)" method=')
_RESULT = re.compile(r"conn=(?P<conn>\d+) op=(?P<op>\d+) RESULT tag=97\b(?P<rest>.*)")
_CLOSED = re.compile(r"conn=(?P<conn>\d+) fd=\d+ closed")
_ERR = re.compile(r"\berr=(?P<err>\d+)\b")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}


@dataclass
class _SlapdClock:
    """Times of syslog lines without a year: the year of the file's context (when it was
    received), in the mapping's zone; a stamp later than a day after that is last year's."""

    zone: ZoneInfo
    context: datetime

    def bsd(self, stamp: str) -> datetime:
        month = _MONTHS.get(stamp[:3])
        if month is None:
            raise _Bad(_("bad time: %(value)s") % {"value": stamp})
        try:
            day_time = datetime.strptime(stamp[4:].strip(), "%d %H:%M:%S")
            local = self.context.astimezone(self.zone)
            moment = day_time.replace(year=local.year, month=month, tzinfo=self.zone)
            if moment > local + timedelta(days=1):
                moment = moment.replace(year=local.year - 1)
        except ValueError as exc:
            raise _Bad(_("bad time: %(value)s") % {"value": stamp}) from exc
        return moment.astimezone(UTC)


def _slapd_time(text: str, clock: _SlapdClock) -> tuple[datetime, str] | None:
    """The line's time and its message after the prefix, or None when no known prefix."""
    if match := _DEBUG_PREFIX.match(text):
        seconds = int(match["sec"], 16) + int(match["nsec"], 16) / 1e9
        try:
            return datetime.fromtimestamp(seconds, UTC), text[match.end() :]
        except (OverflowError, OSError, ValueError) as exc:
            raise _Bad(_("bad time: %(value)s") % {"value": match.group(0).strip()}) from exc
    if match := _SYSLOG_BSD.match(text):
        return clock.bsd(match["stamp"]), text[match.end() :]
    if match := _SYSLOG_ISO.match(text):
        try:
            moment = datetime.fromisoformat(match["stamp"])
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=clock.zone)
            return moment.astimezone(UTC), text[match.end() :]
        except (OverflowError, ValueError) as exc:
            raise _Bad(_("bad time: %(value)s") % {"value": match["stamp"]}) from exc
    return None


def rdn_value(dn: str) -> str:
    """The value of a DN's first RDN (uid=nwabc123,ou=people,... -> nwabc123), unescaped."""
    first, value, i = [], "", 0
    while i < len(dn):
        ch = dn[i]
        if ch == "\\" and i + 1 < len(dn):
            pair = dn[i + 1 : i + 3]
            if re.fullmatch(r"[0-9a-fA-F]{2}", pair):
                first.append(chr(int(pair, 16)))
                i += 3
                continue
            first.append(dn[i + 1])
            i += 2
            continue
        if ch in ",+":
            break
        first.append(ch)
        i += 1
    rdn = "".join(first)
    value = rdn.split("=", 1)[1] if "=" in rdn else rdn
    return value


@dataclass
class _Bind:
    number: int
    raw: str
    occurred_at: datetime
    dn: str


@dataclass
class _SlapdState:
    addresses: OrderedDict[str, str | None] = field(default_factory=OrderedDict)
    binds: OrderedDict[tuple[str, str], _Bind] = field(default_factory=OrderedDict)


def parse_slapd(
    file: BinaryIO,
    *,
    spec: MappingSpec,
    target_code: str,
    context_time: datetime,
    count: LineCount | None = None,
) -> Iterator[Item]:
    """slapd's stats lines: each simple BIND paired with its RESULT (tag=97) by connection and
    operation; the source address from the connection's ACCEPT. Other operations and other
    programs' lines are not sign-ins and are passed over; an anonymous bind (empty DN) too."""
    check_text(file)
    clock = _SlapdClock(spec.zone, context_time)
    state = _SlapdState()
    for number, text, reason in read_lines(file, count):
        if text is None:
            yield Malformed(number, reason)
            continue
        if "conn=" not in text:
            continue
        try:
            timed = _slapd_time(text, clock)
        except _Bad as bad:
            yield Malformed(number, str(bad))
            continue
        if timed is None:
            continue
        moment, message = timed
        if match := _BIND.match(message):
            if not match["dn"]:
                continue  # anonymous: nobody signs in
            key = (match["conn"], match["op"])
            state.binds[key] = _Bind(number, text, moment, match["dn"].replace('\\"', '"'))
            if len(state.binds) > MAX_PENDING:
                _key, lost = state.binds.popitem(last=False)
                yield Malformed(lost.number, _("BIND without its RESULT"))
        elif match := _RESULT.match(message):
            bind = state.binds.pop((match["conn"], match["op"]), None)
            if bind is None:
                continue  # its BIND was anonymous, or before this file began
            raw = f"{bind.raw}\n{text}"
            err = _ERR.search(match["rest"])
            if err is None:
                yield Malformed(bind.number, _("unknown result value: no err= in the RESULT"))
                continue
            try:
                login_id = parse_login_id(rdn_value(bind.dn), spec)
            except _Bad as bad:
                yield Malformed(bind.number, str(bad))
                continue
            yield ParsedEvent(
                line_number=bind.number,
                occurred_at=bind.occurred_at,
                login_id=login_id,
                result="success" if err["err"] == "0" else "failure",
                source_host="",
                source_address=state.addresses.get(match["conn"]),
                raw_line=raw,
                fingerprint=fingerprint(target_code, raw),
            )
        elif match := _ACCEPT.match(message):
            try:
                address: str | None = str(ipaddress.ip_address(match["ip"].strip("[]")))
            except ValueError:
                address = None
            state.addresses[match["conn"]] = address
            if len(state.addresses) > MAX_PENDING:
                state.addresses.popitem(last=False)
        elif match := _ACCEPT_OTHER.match(message):
            state.addresses[match["conn"]] = None  # a local socket (PATH=...): no address
        elif match := _CLOSED.match(message):
            state.addresses.pop(match["conn"], None)
    for bind in state.binds.values():
        yield Malformed(bind.number, _("BIND without its RESULT"))
