"""Internal audit report API: request one for a period (202: a worker produces it), list them,
and read one with its sections' CSV files, their digests and whether they are unchanged."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from compliance.audit_report import (
    SECTIONS_BY_NAME,
    audit_report_period_errors,
    audit_report_request,
    audit_report_verify,
)
from compliance.models import AuditReport, AuditReportSection


class AuditReportInputSerializer(serializers.Serializer):
    period_start = serializers.DateField(help_text=_("First day (Asia/Tokyo), included."))
    period_end = serializers.DateField(help_text=_("Last day (Asia/Tokyo), included."))

    def validate(self, attrs):
        errors = audit_report_period_errors(attrs["period_start"], attrs["period_end"])
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class AuditReportSectionSerializer(serializers.ModelSerializer):
    title = serializers.SerializerMethodField()
    csv = serializers.CharField(
        help_text=_("The CSV file as stored and hashed (UTF-8, starting with a byte order mark).")
    )
    rows = serializers.IntegerField(help_text=_("Rows in the CSV file, the header left out."))

    class Meta:
        model = AuditReportSection
        fields = ["name", "title", "position", "rows", "sha256", "csv"]
        read_only_fields = fields

    def get_title(self, section: AuditReportSection) -> str:
        spec = SECTIONS_BY_NAME.get(section.name)
        return str(spec.title) if spec else section.name


class VerificationSerializer(serializers.Serializer):
    unchanged = serializers.BooleanField(
        help_text=_("The stored CSV files give the digest recorded in the audit trail.")
    )
    problems = serializers.ListField(child=serializers.CharField())
    changed_sections = serializers.ListField(child=serializers.CharField())
    recorded_digest = serializers.CharField()
    computed_digest = serializers.CharField()


class AuditReportSerializer(serializers.ModelSerializer):
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    produced_by: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = AuditReport
        fields = [
            "id",
            "period_start",
            "period_end",
            "status",
            "status_label",
            "produced_by",
            "requested_at",
            "produced_at",
            "digest",
            "chain_verification",
            "error",
        ]
        read_only_fields = fields


class AuditReportDetailSerializer(AuditReportSerializer):
    sections = AuditReportSectionSerializer(many=True, read_only=True)
    verification = serializers.SerializerMethodField()

    class Meta(AuditReportSerializer.Meta):
        fields = [*AuditReportSerializer.Meta.fields, "verification", "sections"]
        read_only_fields = fields

    @extend_schema_field(VerificationSerializer(allow_null=True))
    def get_verification(self, report: AuditReport) -> dict | None:
        verification = audit_report_verify(report)
        return VerificationSerializer(verification).data if verification else None


class AuditReportViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Internal audit reports (内部監査): auditors and security officers produce and read them."""

    serializer_class = AuditReportSerializer
    search_fields: list = []
    ordering_fields = ["requested_at", "period_start"]

    def get_queryset(self):
        reports = AuditReport.objects.select_related("produced_by").order_by("-requested_at", "-id")
        if self.action == "retrieve":
            reports = reports.prefetch_related("sections")
        return reports

    @extend_schema(responses=AuditReportDetailSerializer)
    def retrieve(self, request, pk=None):
        """The report with each section's CSV file and digest, and whether the files are still
        those whose digest the audit trail recorded."""
        return Response(AuditReportDetailSerializer(self.get_object()).data)

    @extend_schema(request=AuditReportInputSerializer, responses={202: AuditReportSerializer})
    def create(self, request):
        """Request a report for a period; a worker produces it (status `producing`, then
        `ready` or `failed`): read it again at its URL."""
        serializer = AuditReportInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        report = audit_report_request(
            actor=request.user,
            period_start=serializer.validated_data["period_start"],
            period_end=serializer.validated_data["period_end"],
        )
        report.refresh_from_db()
        return Response(AuditReportSerializer(report).data, status=status.HTTP_202_ACCEPTED)
