"""Contractor supervision API: yearly reports (submit, review), operators' trainings and the
exceptions security grants during a disaster. Thin views over lending.supervision, whose
selectors limit a contractor's users to their own organization (another's answers 404)."""

import json

import django_filters
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from core.api.permissions import ChangeActionPermission
from core.api.serializers import REFUSED, validated
from core.input_limits import LimitedJSONParser
from core.models import Organization
from lending import supervision
from lending.models import (
    ContractorReport,
    Declaration,
    OperatorTraining,
    ReportOutcome,
    SupervisionException,
)

# Serializers ----------------------------------------------------------------------------------


class ContractorCodeField(serializers.SlugRelatedField):
    default_error_messages = {
        "does_not_exist": _("No contractor has the code {value}."),
        "invalid": _("Give a contractor's code."),
    }

    def __init__(self, **kwargs):
        super().__init__(
            slug_field="code",
            queryset=Organization.objects.filter(kind=Organization.Kind.CONTRACTOR),
            **kwargs,
        )


@extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
class AnswersField(serializers.Field):
    """The checklist's answers, {question code: "yes" or "no"}: a JSON object, or (in a
    multipart upload with the file) the same object as a JSON string."""

    default_error_messages = {"invalid": _("Give the answers as an object of code: yes or no.")}

    def to_internal_value(self, data):
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                self.fail("invalid")
        if not isinstance(data, dict):
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


class ContractorReportSerializer(serializers.ModelSerializer):
    contractor = serializers.CharField(source="contractor.code", read_only=True)
    contractor_name = serializers.CharField(source="contractor.name", read_only=True)
    outcome_label = serializers.CharField(source="get_outcome_display", read_only=True)
    submitted_by = serializers.CharField(source="submitted_by.username", read_only=True)
    reviewed_by = serializers.CharField(
        source="reviewed_by.username", read_only=True, allow_null=True
    )
    has_file = serializers.SerializerMethodField()

    class Meta:
        model = ContractorReport
        fields = [
            "id",
            "contractor",
            "contractor_name",
            "period_start",
            "period_end",
            "answers",
            "has_file",
            "submitted_by",
            "submitted_at",
            "outcome",
            "outcome_label",
            "reviewed_by",
            "reviewed_at",
            "review_note",
        ]
        read_only_fields = fields

    def get_has_file(self, report: ContractorReport) -> bool:
        return bool(report.file)


class ContractorReportInputSerializer(serializers.Serializer):
    contractor = ContractorCodeField(
        required=False,
        allow_null=True,
        default=None,
        help_text=_("The contractor's code; a contractor's user may leave it out (their own)."),
    )
    period_start = serializers.DateField(required=False, allow_null=True, default=None)
    period_end = serializers.DateField(required=False, allow_null=True, default=None)
    answers = AnswersField(
        required=False,
        default=dict,
        help_text=_("Each checklist question's code with yes or no."),
    )
    file = serializers.FileField(required=False, allow_null=True, default=None)


class ReviewInputSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=[("accept", "accept"), ("reject", "reject")])
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class OperatorTrainingSerializer(serializers.ModelSerializer):
    contractor = serializers.CharField(source="contractor.code", read_only=True)
    recorded_by = serializers.CharField(source="recorded_by.username", read_only=True)
    current = serializers.SerializerMethodField()

    class Meta:
        model = OperatorTraining
        fields = [
            "id",
            "contractor",
            "operator_name",
            "course",
            "completed_on",
            "expires_on",
            "undertaking_signed_on",
            "current",
            "recorded_by",
            "recorded_at",
        ]
        read_only_fields = fields

    def get_current(self, training: OperatorTraining) -> bool:
        """This record makes its operator current today (valid, undertaking signed)."""
        today = timezone.localdate()
        return training.expires_on >= today and training.undertaking_signed_on is not None


class OperatorTrainingInputSerializer(serializers.Serializer):
    contractor = ContractorCodeField()
    operator_name = serializers.CharField(max_length=150, allow_blank=True)
    course = serializers.CharField(max_length=200, allow_blank=True)
    completed_on = serializers.DateField(required=False, allow_null=True, default=None)
    expires_on = serializers.DateField(required=False, allow_null=True, default=None)
    undertaking_signed_on = serializers.DateField(required=False, allow_null=True, default=None)


class SupervisionExceptionSerializer(serializers.ModelSerializer):
    contractor = serializers.CharField(source="contractor.code", read_only=True)
    granted_by = serializers.CharField(source="granted_by.username", read_only=True)

    class Meta:
        model = SupervisionException
        fields = [
            "id",
            "declaration",
            "contractor",
            "operator_name",
            "reason",
            "granted_by",
            "granted_at",
            "expires_at",
        ]
        read_only_fields = fields


class SupervisionExceptionInputSerializer(serializers.Serializer):
    declaration = serializers.PrimaryKeyRelatedField(
        queryset=Declaration.objects.all(),
        error_messages={"does_not_exist": _("No declaration has the number {pk_value}.")},
    )
    contractor = ContractorCodeField()
    operator_name = serializers.CharField(
        max_length=150,
        required=False,
        allow_blank=True,
        default="",
        help_text=_("Empty: the contractor's yearly report; a name: that operator's training."),
    )
    reason = serializers.CharField(max_length=2000, allow_blank=True)
    hours = serializers.IntegerField(help_text=_("How long it lasts, in hours."))


# Views ----------------------------------------------------------------------------------------


class ContractorReportFilter(django_filters.FilterSet):
    contractor = django_filters.CharFilter(field_name="contractor__code")
    outcome = django_filters.MultipleChoiceFilter(choices=ReportOutcome.choices)

    class Meta:
        model = ContractorReport
        fields = ["contractor", "outcome"]


class ContractorReportViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Contractors' yearly security reports. A contractor's user submits their own; security
    officers submit for any contractor and review (accept or reject) each."""

    serializer_class = ContractorReportSerializer
    filterset_class = ContractorReportFilter
    ordering_fields = ["period_end", "submitted_at"]
    parser_classes = [LimitedJSONParser, MultiPartParser, FormParser]

    def get_queryset(self):
        return supervision.contractor_report_queryset(user=self.request.user)

    @extend_schema(
        request=ContractorReportInputSerializer, responses={201: ContractorReportSerializer}
    )
    def create(self, request):
        report = supervision.contractor_report_submit(
            actor=request.user, **validated(ContractorReportInputSerializer, request)
        )
        return Response(ContractorReportSerializer(report).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=ReviewInputSerializer, responses={200: ContractorReportSerializer, **REFUSED}
    )
    @action(detail=True, methods=["post"], permission_classes=[ChangeActionPermission])
    def review(self, request, pk=None):
        """Accept or reject the report; a rejection needs a note (the contractor reads it)."""
        data = validated(ReviewInputSerializer, request)
        review = (
            supervision.contractor_report_accept
            if data["decision"] == "accept"
            else supervision.contractor_report_reject
        )
        report = review(report=self.get_object(), actor=request.user, note=data["note"])
        return Response(ContractorReportSerializer(report).data)


class OperatorTrainingFilter(django_filters.FilterSet):
    contractor = django_filters.CharFilter(field_name="contractor__code")

    class Meta:
        model = OperatorTraining
        fields = ["contractor"]


class OperatorTrainingViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Named operators' trainings and signed undertakings; security records them."""

    serializer_class = OperatorTrainingSerializer
    filterset_class = OperatorTrainingFilter
    search_fields = ["operator_name", "course"]
    ordering_fields = ["expires_on", "operator_name"]

    def get_queryset(self):
        return supervision.operator_training_queryset(user=self.request.user)

    @extend_schema(
        request=OperatorTrainingInputSerializer, responses={201: OperatorTrainingSerializer}
    )
    def create(self, request):
        training = supervision.operator_training_record(
            actor=request.user, **validated(OperatorTrainingInputSerializer, request)
        )
        return Response(OperatorTrainingSerializer(training).data, status=status.HTTP_201_CREATED)


class SupervisionExceptionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Time-limited exceptions to the supervision rules, granted by security during a declared
    disaster (the reason and who granted it are audited)."""

    serializer_class = SupervisionExceptionSerializer
    filterset_fields = ["declaration"]
    ordering_fields = ["granted_at", "expires_at"]

    def get_queryset(self):
        return supervision.supervision_exception_queryset(user=self.request.user)

    @extend_schema(
        request=SupervisionExceptionInputSerializer,
        responses={201: SupervisionExceptionSerializer},
    )
    def create(self, request):
        exception = supervision.supervision_exception_grant(
            actor=request.user, **validated(SupervisionExceptionInputSerializer, request)
        )
        return Response(
            SupervisionExceptionSerializer(exception).data, status=status.HTTP_201_CREATED
        )
