"""A stock-take's report, written once: the page, its CSV download and the API's JSON and CSV
all take these rows through this serializer (times in the viewer's time zone, with the offset)."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from compliance.models import StockTake
from terminals.forms import location_path_label
from terminals.models import Location


def stocktake_report_rows(stocktake: StockTake) -> list[dict]:
    """Each discrepancy of the stock-take, with where it was found and where the inventory had
    it, as location paths a person reads."""
    names = dict(Location.objects.values_list("pk", "name"))
    site_locations = {
        location.pk: location
        for location in Location.objects.filter(path__startswith=stocktake.site.path)
    }

    def path(location: Location | None) -> str:
        return location_path_label(location, names) if location else ""

    discrepancies = stocktake.discrepancies.select_related(
        "location", "terminal", "assignee", "resolved_by"
    ).order_by("kind", "subject", "id")
    return [
        {
            "discrepancy": discrepancy,
            "location": path(discrepancy.location),
            "recorded": path(site_locations.get(discrepancy.details.get("recorded_location"))),
        }
        for discrepancy in discrepancies
    ]


class StockTakeReportRowSerializer(serializers.Serializer):
    """One discrepancy of a stock-take's report; the labels head the CSV."""

    id = serializers.IntegerField(source="discrepancy.pk", label=_("No."))
    kind = serializers.CharField(source="discrepancy.get_kind_display", label=_("Kind"))
    subject = serializers.CharField(source="discrepancy.subject", label=_("Subject"))
    location = serializers.CharField(label=_("Location"))
    recorded_location = serializers.CharField(source="recorded", label=_("Recorded location"))
    terminal = serializers.CharField(
        source="discrepancy.terminal.asset_tag", allow_null=True, label=_("Terminal")
    )
    status = serializers.CharField(source="discrepancy.get_status_display", label=_("Status"))
    opened_at = serializers.DateTimeField(source="discrepancy.opened_at", label=_("Opened at"))
    assignee = serializers.CharField(
        source="discrepancy.assignee.username", allow_null=True, label=_("Assignee")
    )
    outcome = serializers.CharField(source="discrepancy.get_outcome_display", label=_("Outcome"))
    resolution_note = serializers.CharField(source="discrepancy.resolution_note", label=_("Note"))
    resolved_by = serializers.CharField(
        source="discrepancy.resolved_by.username", allow_null=True, label=_("Resolved by")
    )
    resolved_at = serializers.DateTimeField(
        source="discrepancy.resolved_at", allow_null=True, label=_("Resolved at")
    )
