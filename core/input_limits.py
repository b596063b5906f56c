"""Limits on what a request may carry, each refused with a clear message instead of a 500.

- `InputLimitsMiddleware`: a NUL character in the path or the query string (PostgreSQL refuses
  one in a text column; SQLite would store it) answers 400, and a body larger than
  `REQUEST_MAX_BYTES` answers 413 before anything reads it; an API address no route matches
  answers JSON, not the HTML page. Django's own limits stand beside it:
  `DATA_UPLOAD_MAX_MEMORY_SIZE` (a body other than files), `DATA_UPLOAD_MAX_NUMBER_FIELDS`
  (the API answers them 413 with `request_too_large_message`, core.api.errors).
- `LimitedJSONParser`: the API's JSON parser, refusing nesting deeper than `JSON_MAX_DEPTH`
  (Python's decoder would recurse until it fails) and a NUL character in any string or key.
- `checked_datetime` (and the form field and list filter using it): a time zone offset beyond
  +-15:59 (PostgreSQL refuses it) or a moment beyond year 9999 is a field error.
- The middleware's last line: a value the database refuses anyway (`DataError`, or an
  `OverflowError` converting it) answers 400 rather than 500.
- `check_upload_size`, `MaxUploadSize`: one upload field's own limit, as a field error.
- `csv_max_rows`: the most rows a CSV import reads (`CSV_IMPORT_MAX_ROWS`).

Nothing here imports an app: core imports none.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import django_filters
from django import forms
from django.conf import settings
from django.core.exceptions import TooManyFieldsSent, ValidationError
from django.db import DataError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy
from django_filters.fields import IsoDateTimeField
from rest_framework import exceptions, parsers
from rest_framework.parsers import get_encoding  # type: ignore[attr-defined]  # not in the stubs
from rest_framework.utils import json

# The longest free text (notes, a purpose, a resolution note) an API field takes: a page of
# text, far more than a note needs and far less than a body can carry.
TEXT_MAX_LENGTH = settings.TEXT_INPUT_MAX_LENGTH

NUL_MESSAGE = gettext_lazy("Null characters are not allowed.")
VALUE_OUT_OF_RANGE = gettext_lazy(
    "A value in the request cannot be stored (out of range, or a character that is not allowed)."
)


def json_max_depth() -> int:
    return settings.JSON_MAX_DEPTH


def csv_max_rows() -> int:
    return settings.CSV_IMPORT_MAX_ROWS


def csv_rows_message() -> str:
    return gettext("The file has more than %(max)d rows; split it into smaller files.") % {
        "max": csv_max_rows()
    }


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.3g}"


def upload_too_large_message(limit: int) -> str:
    return gettext("The file is larger than %(limit)s MB.") % {"limit": _megabytes(limit)}


def request_too_large_message(exc: Exception) -> str:
    """Django's refusal of a body over its limits, in words that give the limit."""
    if isinstance(exc, TooManyFieldsSent):
        return gettext("The request has more than %(max)d fields.") % {
            "max": settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        }
    return gettext("The request body is larger than %(limit)s MB.") % {
        "limit": _megabytes(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    }


def check_upload_size(upload: Any, limit: int) -> None:
    """Refuse an uploaded file larger than `limit` bytes (a ValidationError for the field)."""
    if upload is not None and upload.size is not None and upload.size > limit:
        raise ValidationError(upload_too_large_message(limit), code="file_too_large")


class MaxUploadSize:
    """A form or serializer file field's validator: at most the bytes the named setting says
    (read at each upload, so a changed setting applies at once)."""

    def __init__(self, setting: str):
        self.setting = setting

    def __call__(self, upload: Any) -> None:
        check_upload_size(upload, getattr(settings, self.setting))


# Date-times -------------------------------------------------------------------------------------

# PostgreSQL takes a time zone offset of at most 15:59 (Python's own limit is 24 hours), and a
# date-time must stay within years 1-9999 when it is turned into UTC or local time.
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)


def checked_datetime(value: datetime | None) -> datetime | None:
    """An aware date-time in the current time zone, or a ValidationError whose message says
    why it cannot be stored (its offset, or a moment out of range)."""
    if value is None or timezone.is_naive(value):
        return value
    offset = value.utcoffset() or timedelta(0)
    if abs(offset) > MAX_UTC_OFFSET:
        raise ValidationError(
            gettext_lazy("A time zone offset is between -15:59 and +15:59."),
            code="offset_out_of_range",
        )
    try:
        value.astimezone(UTC)
        return value.astimezone(timezone.get_current_timezone())
    except OverflowError as exc:
        raise ValidationError(
            gettext_lazy("This date and time is out of the range that can be stored."),
            code="datetime_out_of_range",
        ) from exc


class BoundedDateTimeField(forms.DateTimeField):
    """A form's date-time, checked by `checked_datetime`."""

    def to_python(self, value):
        return checked_datetime(super().to_python(value))


class BoundedIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value):
        return checked_datetime(super().to_python(value))


class BoundedIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """A list filter's ISO 8601 date-time, checked by `checked_datetime` (a 400, not a 500 from
    the database)."""

    field_class = BoundedIsoDateTimeField


# The path and the query string ---------------------------------------------------------------


def _refusal(request: HttpRequest, message: str, status: int) -> HttpResponse:
    """JSON for the API, as its other errors; a short text page for the pages."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": message}, status=status)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


class InputLimitsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path_info or "%00" in query or "\x00" in query:
            return _refusal(
                request,
                gettext("Null characters are not allowed in an address or its parameters."),
                400,
            )
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _refusal(request, gettext("The Content-Length header is not a number."), 400)
        limit = settings.REQUEST_MAX_BYTES
        if length > limit:
            return _refusal(
                request,
                gettext("The request is larger than %(limit)s MB.") % {"limit": _megabytes(limit)},
                413,
            )
        response = self.get_response(request)
        # An address under /api/ that no route matches (a word where a number goes) is answered
        # by Django's HTML page; the API answers JSON, as for every other error.
        if (
            response.status_code == 404
            and request.path_info.startswith("/api/")
            and response.get("Content-Type", "").startswith("text/html")
        ):
            return JsonResponse({"detail": gettext("Not found.")}, status=404)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """The last line: a value the database refuses (a NUL character, a number or a date
        out of its range) that no form or serializer caught answers 400, not 500."""
        if isinstance(exception, DataError | OverflowError):
            return _refusal(request, str(VALUE_OUT_OF_RANGE), 400)
        return None


# JSON bodies -----------------------------------------------------------------------------------


def json_depth(value: Any) -> int:
    """How deeply the arrays and objects of decoded JSON nest (a scalar: 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        )
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _nul_path(value: Any, path: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """Where the first NUL character is in decoded JSON (keys included), or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return (*path, key.replace("\x00", ""))
            if (found := _nul_path(item, (*path, key))) is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            if (found := _nul_path(item, (*path, str(index)))) is not None:
                return found
    return None


class LimitedJSONParser(parsers.JSONParser):
    """DRF's JSON parser with a depth limit and no NUL characters, refused as 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})  # text charsets only (no bz2_codec)
        # DRF reads the body from the request's stream itself, past Django's
        # DATA_UPLOAD_MAX_MEMORY_SIZE check: the same limit holds here.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1 if limit is not None else -1) if stream is not None else b""
        if limit is not None and len(raw) > limit:
            raise exceptions.ParseError(
                gettext("The JSON body is larger than %(limit)s MB.") % {"limit": _megabytes(limit)}
            )
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise exceptions.ParseError(
                gettext("The body is not %(encoding)s text.") % {"encoding": encoding}
            ) from exc
        too_deep = exceptions.ParseError(
            gettext("The JSON nests deeper than %(max)d levels.") % {"max": json_max_depth()}
        )
        try:
            data = json.loads(text)  # NaN and Infinity refused, as by DRF's own parser
        except RecursionError as exc:  # Python's decoder recurses once per level
            raise too_deep from exc
        except ValueError as exc:
            raise exceptions.ParseError(
                gettext("JSON parse error - %(error)s") % {"error": exc}
            ) from exc
        if json_depth(data) > json_max_depth():
            raise too_deep
        if "\x00" in text or "\\u0000" in text:
            found = _nul_path(data)
            if found is not None:
                field = ".".join(found) if found else "non_field_errors"
                raise exceptions.ValidationError({field: [str(NUL_MESSAGE)]})
        return data
