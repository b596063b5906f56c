"""CSV that staff open in Excel: a byte order mark so Japanese reads as UTF-8, and no cell that a
spreadsheet would run as a formula (tags, names and work sites are typed by people)."""

import csv
import io
from collections.abc import Mapping, Sequence
from typing import cast

from django.http import HttpResponse
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer
from rest_framework.utils.serializer_helpers import ReturnList

BOM = "\ufeff"
# A cell starting with one of these is run as a formula; an apostrophe in front, which Excel
# hides, keeps it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def rows_csv(
    row_serializer: type[serializers.Serializer], data: Sequence[Mapping[str, object]]
) -> bytes:
    """A report's rows (as its row serializer gave them) as CSV, headed by the fields' labels.
    Times are the serializer's: ISO 8601 in the viewer's time zone, with the offset."""
    out = io.StringIO()
    writer = csv.writer(out)
    # As a Mapping: the stubs' BindingDict iterates over fields, the real one over their names.
    fields: Mapping[str, serializers.Field] = row_serializer().fields
    writer.writerow([str(field.label) for field in fields.values()])
    for row in data:
        writer.writerow([safe_cell(row[name]) for name in fields])
    return (BOM + out.getvalue()).encode("utf-8")


def csv_download(
    row_serializer: type[serializers.Serializer], rows: object, filename: str
) -> HttpResponse:
    """A page's CSV download: the same bytes as the API's `report.csv` for the same rows."""
    # many=True builds a ListSerializer, whose data is a list (the stubs say the row's dict).
    data = cast(ReturnList, row_serializer(rows, many=True).data)
    response = HttpResponse(
        rows_csv(row_serializer, data),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class RowsCsvRenderer(BaseRenderer):
    """An API answer of rows as CSV, headed by `row_serializer`'s field labels."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"
    row_serializer: type[serializers.Serializer]

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if isinstance(data, list):
            return rows_csv(self.row_serializer, data)
        out = io.StringIO()  # an error answer (403, 404): its messages, one per line
        writer = csv.writer(out)
        for key, value in data.items():
            writer.writerow([key, *(value if isinstance(value, list) else [value])])
        return (BOM + out.getvalue()).encode("utf-8")
