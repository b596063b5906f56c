"""CSV that staff open in Excel: a byte order mark so Japanese reads as UTF-8, and no cell that a
spreadsheet would run as a formula (tags, names and work sites are typed by people)."""

import csv
import io

from rest_framework.renderers import BaseRenderer

BOM = "\ufeff"
# A cell starting with one of these is run as a formula; an apostrophe in front, which Excel
# hides, keeps it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


class RowsCsvRenderer(BaseRenderer):
    """An API answer of rows as CSV, headed by `row_serializer`'s field labels."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"
    row_serializer: type

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out)
        if isinstance(data, list):
            fields = self.row_serializer().fields
            writer.writerow([str(field.label) for field in fields.values()])
            for row in data:
                writer.writerow([safe_cell(row[name]) for name in fields])
        else:  # an error answer (403, 404): its messages, one per line
            for key, value in data.items():
                writer.writerow([key, *(value if isinstance(value, list) else [value])])
        return (BOM + out.getvalue()).encode("utf-8")
