"""The declaration close report, written once: the page's CSV download and the API's JSON and
CSV all go through this row serializer (times in the viewer's time zone, with the offset)."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers


class CloseReportRowSerializer(serializers.Serializer):
    """One loan of the close report, from request to rotation. The labels head the CSV."""

    loan = serializers.IntegerField(source="loan.pk", label=_("loan"))
    terminal = serializers.CharField(source="loan.terminal.asset_tag", label=_("terminal"))
    contractor = serializers.CharField(source="request.contractor.name", label=_("contractor"))
    request = serializers.IntegerField(source="request.pk", label=_("access request"))
    submitted_by = serializers.CharField(
        source="request.submitted_by.username", label=_("submitted by")
    )
    submitted_at = serializers.DateTimeField(source="request.submitted_at", label=_("submitted at"))
    approved_by = serializers.CharField(
        source="request.decided_by.username", allow_null=True, label=_("approved by")
    )
    approved_at = serializers.DateTimeField(
        source="request.decided_at", allow_null=True, label=_("approved at")
    )
    work_site = serializers.CharField(source="loan.work_site", label=_("work site"))
    operator_name = serializers.CharField(
        source="loan.operator_name", label=_("operator who received it")
    )
    acknowledged_name = serializers.CharField(source="loan.acknowledged_name", label=_("signed by"))
    handed_out_by = serializers.CharField(
        source="loan.handed_out_by.username", label=_("handed out by")
    )
    checked_out_at = serializers.DateTimeField(
        source="loan.checked_out_at", label=_("checked out at")
    )
    due_at = serializers.DateTimeField(source="loan.due_at", label=_("due"))
    status = serializers.CharField(source="loan.get_status_display", label=_("status"))
    revoked_at = serializers.DateTimeField(
        source="loan.revoked_at", allow_null=True, label=_("revoked at")
    )
    returned_at = serializers.DateTimeField(
        source="confirmation.returned_at", allow_null=True, label=_("returned at")
    )
    condition = serializers.CharField(
        source="confirmation.get_condition_display", allow_null=True, label=_("condition")
    )
    return_location = serializers.CharField(
        source="confirmation.return_location.code", allow_null=True, label=_("return location")
    )
    handed_back_by = serializers.CharField(
        source="confirmation.handed_back_by",
        allow_null=True,
        label=_("operator who handed it back"),
    )
    received_by = serializers.CharField(
        source="confirmation.received_by.username", allow_null=True, label=_("received by")
    )
    # What became of the data and printouts obtained for the work (contractor supervision).
    data_disposition = serializers.CharField(
        source="confirmation.get_data_disposition_display",
        allow_null=True,
        label=_("data and printouts"),
    )
    supervision_exception = serializers.IntegerField(
        source="loan.supervision_exception_id", allow_null=True, label=_("supervision exception")
    )
    rotated_at = serializers.DateTimeField(allow_null=True, label=_("rotated at"))
    rotations = serializers.IntegerField(label=_("rotations"))
