"""A report on the API: the same rows as JSON or, at `report.csv` or `?format=csv`, as CSV for
Excel, headed and written by the report's one row serializer (core.spreadsheets)."""

from collections.abc import Callable

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response

from core.spreadsheets import RowsCsvRenderer


def report_action(
    row_serializer: type[serializers.Serializer], *, permission: type[BasePermission]
) -> Callable:
    """Decorate a viewset method `report` that returns `report_response(...)`."""
    renderer = type(
        f"{row_serializer.__name__}CsvRenderer",
        (RowsCsvRenderer,),
        {"row_serializer": row_serializer, "__doc__": "The report's rows as CSV."},
    )

    def decorate(method: Callable) -> Callable:
        method = action(
            detail=True,
            methods=["get"],
            filter_backends=[],
            pagination_class=None,
            permission_classes=[permission],
            renderer_classes=[JSONRenderer, BrowsableAPIRenderer, renderer],
        )(method)
        return extend_schema(
            responses={
                (200, "application/json"): row_serializer(many=True),
                (200, "text/csv"): OpenApiResponse(
                    response=OpenApiTypes.STR, description=_("The same rows as CSV.")
                ),
            }
        )(method)

    return decorate


def report_response(
    request, row_serializer: type[serializers.Serializer], rows: object, filename: str
) -> Response:
    response = Response(row_serializer(rows, many=True).data)
    if request.accepted_renderer.format == "csv":
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
