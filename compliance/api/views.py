"""Stock-take and discrepancy API: thin views over terminals.stocktakes and
compliance.policy_checks.

Blind counts: whoever may not look behind the blind (the `view_stocktakeexpectation`
permission, held by security officers and auditors) sees only their own scans of a blind
stock-take and never its expected list."""

import os

import django_filters
from django.db.models import Prefetch, Q
from django.http import FileResponse, Http404
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from compliance import policy_checks, selectors
from compliance import services as stocktakes
from compliance.models import (
    Discrepancy,
    DiscrepancyEvidence,
    DiscrepancyKind,
    DiscrepancyOutcome,
    DiscrepancyStatus,
    Scan,
    SignInEvent,
    StockTake,
    StockTakeExpectation,
    StockTakeReason,
    StockTakeStatus,
)
from compliance.reports import StockTakeReportRowSerializer, stocktake_report_rows
from compliance.selectors import reviewers
from core.api.permissions import ChangeActionPermission, model_permission
from core.api.reports import report_action, report_response
from core.api.serializers import REFUSED, validated
from core.errors import RuleViolation
from core.filters import IdentifierFilter
from core.input_limits import TEXT_MAX_LENGTH, BoundedIsoDateTimeFilter
from core.models import User
from terminals.api.serializers import LocationCodeField
from terminals.models import Location

SEES_BEHIND_THE_BLIND = "compliance.view_stocktakeexpectation"


def sees_behind_the_blind(user: User, stocktake: StockTake) -> bool:
    return not stocktake.blind or user.has_perm(SEES_BEHIND_THE_BLIND)


# Serializers: stock-takes ---------------------------------------------------------------------


class StockTakeSerializer(serializers.ModelSerializer):
    site = serializers.SlugRelatedField(slug_field="code", read_only=True)
    site_name = serializers.CharField(source="site.name", read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    reason_label = serializers.CharField(source="get_reason_display", read_only=True)
    opened_by = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text=_("Who opened it; null when the scheduler did."),
    )
    closed_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    overdue = serializers.SerializerMethodField(help_text=_("Still open after its due date."))

    class Meta:
        model = StockTake
        fields = [
            "id",
            "site",
            "site_name",
            "status",
            "status_label",
            "reason",
            "reason_label",
            "blind",
            "opened_at",
            "opened_by",
            "due_at",
            "overdue",
            "closed_at",
            "closed_by",
            "completed_at",
        ]
        read_only_fields = fields

    def get_overdue(self, stocktake: StockTake) -> bool:
        return stocktake.status == StockTakeStatus.OPEN and stocktake.due_at < timezone.now()


class LocationProgressSerializer(serializers.Serializer):
    location = serializers.CharField(help_text=_("Location code."))
    name = serializers.CharField()
    found = serializers.IntegerField()
    expected = serializers.IntegerField()


class ProgressSerializer(serializers.Serializer):
    found = serializers.IntegerField(help_text=_("Expected terminals found where expected."))
    expected = serializers.IntegerField(help_text=_("Terminals expected on the site."))
    per_location = LocationProgressSerializer(many=True)


class LocationSummarySerializer(serializers.Serializer):
    location = serializers.CharField(help_text=_("Location code."))
    name = serializers.CharField()
    counts = serializers.DictField(
        child=serializers.IntegerField(),
        help_text=_("Discrepancies per kind here and in every location inside it."),
    )


class SummarySerializer(serializers.Serializer):
    per_kind = serializers.DictField(child=serializers.IntegerField())
    per_location = LocationSummarySerializer(
        many=True, help_text=_("Locations with discrepancies, in tree order.")
    )


class StockTakeDetailSerializer(StockTakeSerializer):
    progress = ProgressSerializer(read_only=True)
    summary = SummarySerializer(
        read_only=True,
        allow_null=True,
        help_text=_("Discrepancies per kind and per location; null while the count is open."),
    )

    class Meta(StockTakeSerializer.Meta):
        fields = [*StockTakeSerializer.Meta.fields, "progress", "summary"]
        read_only_fields = fields


class StockTakeOpenSerializer(serializers.Serializer):
    site = LocationCodeField()
    blind = serializers.BooleanField(
        required=False,
        default=True,
        help_text=_("Scanning staff see only what they scanned, not the expected list."),
    )
    due_days = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=365,
        help_text=_("Days to finish; empty for the usual period."),
    )


class ScanSerializer(serializers.ModelSerializer):
    location = serializers.SlugRelatedField(slug_field="code", read_only=True)
    terminal = serializers.SlugRelatedField(slug_field="asset_tag", read_only=True, allow_null=True)
    result_label = serializers.CharField(source="get_result_display", read_only=True)
    scanned_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Scan
        fields = [
            "id",
            "location",
            "tag",
            "terminal",
            "result",
            "result_label",
            "scanned_by",
            "scanned_at",
            "undone_at",
        ]
        read_only_fields = fields


class ScanInputSerializer(serializers.Serializer):
    location = LocationCodeField()
    # Blank passes here so that the service says "nothing was scanned", as on the page.
    tag = serializers.CharField(max_length=64, allow_blank=True)


class ScanBatchInputSerializer(serializers.Serializer):
    location = LocationCodeField()
    tags = serializers.ListField(
        child=serializers.CharField(max_length=64),
        allow_empty=False,
        max_length=stocktakes.SCAN_BATCH_MAX,
        help_text=_("The tags in the order they were read, at most 500."),
    )


class ScanBatchSerializer(serializers.Serializer):
    scans = ScanSerializer(many=True, help_text=_("One per tag sent, in the same order."))


class ExpectationSerializer(serializers.ModelSerializer):
    terminal = serializers.SlugRelatedField(slug_field="asset_tag", read_only=True)
    location = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = StockTakeExpectation
        fields = ["terminal", "location", "status"]
        read_only_fields = fields


# Serializers: discrepancies -------------------------------------------------------------------


class EvidenceSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()
    uploaded_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = DiscrepancyEvidence
        fields = ["id", "name", "uploaded_by", "uploaded_at"]
        read_only_fields = fields

    def get_name(self, evidence: DiscrepancyEvidence) -> str:
        return os.path.basename(evidence.file.name)


class DiscrepancySignInSerializer(serializers.ModelSerializer):
    """The sign-in an access-log finding judged (for a burst, its first failure)."""

    target_system = serializers.SlugRelatedField(slug_field="code", read_only=True)
    source_address = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = SignInEvent
        fields = [
            "id",
            "occurred_at",
            "login_id",
            "result",
            "source_host",
            "source_address",
            "target_system",
            "line_number",
            "raw_line",
        ]
        read_only_fields = fields


class DiscrepancySerializer(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    site = serializers.SerializerMethodField()
    location = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    terminal = serializers.SlugRelatedField(slug_field="asset_tag", read_only=True, allow_null=True)
    access_card = serializers.SlugRelatedField(
        slug_field="card_number", read_only=True, allow_null=True
    )
    account = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    loan = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    # Declared, so that the schema says an open discrepancy's outcome is blank (a read-only
    # model field loses its allow_blank).
    outcome = serializers.ChoiceField(
        choices=DiscrepancyOutcome.choices, allow_blank=True, read_only=True
    )
    outcome_label = serializers.CharField(source="get_outcome_display", read_only=True)
    allowed_outcomes = serializers.SerializerMethodField()
    resolved_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    evidence = EvidenceSerializer(many=True, read_only=True)
    sign_in = DiscrepancySignInSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Discrepancy
        fields = [
            "id",
            "kind",
            "kind_label",
            "status",
            "status_label",
            "subject",
            "stocktake",
            "site",
            "location",
            "terminal",
            "access_card",
            "account",
            "loan",
            "sign_in",
            "details",
            "opened_at",
            "assignee",
            "allowed_outcomes",
            "outcome",
            "outcome_label",
            "resolution_note",
            "resolved_by",
            "resolved_at",
            "evidence",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True, help_text=_("Site code.")))
    def get_site(self, discrepancy: Discrepancy) -> str | None:
        site = _site_of(discrepancy)
        return site.code if site else None

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_allowed_outcomes(self, discrepancy: Discrepancy) -> list[str]:
        return stocktakes.outcomes_for(discrepancy.kind)


def _site_of(discrepancy: Discrepancy) -> Location | None:
    # A stock-take finding belongs to its stock-take's site; a policy finding to the site of
    # its location, or of its terminal's location (account findings have only a terminal).
    if discrepancy.stocktake_id:
        return discrepancy.stocktake.site
    if discrepancy.location_id:
        return discrepancy.location.site
    if discrepancy.terminal_id:
        return discrepancy.terminal.location.site
    return None


class DiscrepancyAssignSerializer(serializers.Serializer):
    assignee = serializers.SlugRelatedField(
        slug_field="username",
        # Those who may resolve: an assignment is a request to resolve it.
        queryset=reviewers(),
        allow_null=True,
        help_text=_("A security officer's username, or null to unassign."),
        error_messages={"does_not_exist": _("No active security officer is called {value}.")},
    )


class DiscrepancyResolveSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=DiscrepancyOutcome.choices)
    # Blank passes here so that the service answers for the note and the outcome together.
    note = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=TEXT_MAX_LENGTH
    )


class EvidenceInputSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text=_("A photo (JPEG, PNG, GIF, WebP, HEIC) or a PDF, up to 20 MB.")
    )


# Stock-takes ----------------------------------------------------------------------------------


class StockTakeFilter(django_filters.FilterSet):
    site = django_filters.CharFilter(field_name="site__code", label=_("Site (code)"))
    status = django_filters.MultipleChoiceFilter(choices=StockTakeStatus.choices)
    reason = django_filters.ChoiceFilter(choices=StockTakeReason.choices)

    class Meta:
        model = StockTake
        fields = ["site", "status", "reason"]


def _with_figures(stocktake: StockTake) -> StockTake:
    """Attach the progress, and once closed the summary, that the detail serializer shows."""
    progress = stocktakes.stocktake_progress(stocktake)
    per_location = progress["per_location"]
    locations = Location.objects.filter(pk__in=per_location).order_by("path")
    stocktake.progress = {
        "found": progress["found"],
        "expected": progress["expected"],
        "per_location": [
            {
                "location": code,
                "name": name,
                "found": per_location[pk][0],
                "expected": per_location[pk][1],
            }
            for pk, code, name in locations.values_list("pk", "code", "name")
        ],
    }
    stocktake.summary = None
    if stocktake.status != StockTakeStatus.OPEN:
        summary = stocktakes.stocktake_summary(stocktake)
        stocktake.summary = {
            "per_kind": summary["per_kind"],
            "per_location": [
                {"location": location.code, "name": location.name, "counts": counts}
                for location, counts in summary["per_location"]
                if counts
            ],
        }
    return stocktake


_location_param = OpenApiParameter("location", str, description=_("Only this location (code)."))


class StockTakeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Stock-takes (棚卸し): security opens and closes them, facilities staff scan."""

    serializer_class = StockTakeSerializer
    filterset_class = StockTakeFilter
    search_fields: list = []
    ordering_fields = ["opened_at", "due_at"]

    def get_queryset(self):
        return selectors.stocktake_queryset(user=self.request.user)

    def _answer(self, stocktake: StockTake, **kwargs) -> Response:
        stocktake = self.get_queryset().get(pk=stocktake.pk)
        return Response(StockTakeDetailSerializer(_with_figures(stocktake)).data, **kwargs)

    @extend_schema(responses=StockTakeDetailSerializer)
    def retrieve(self, request, pk=None):
        """The stock-take with its progress (found / expected, in all and per location) and,
        once closed, its discrepancies per kind and per location."""
        return self._answer(self.get_object())

    @extend_schema(
        request=StockTakeOpenSerializer, responses={201: StockTakeDetailSerializer, **REFUSED}
    )
    def create(self, request):
        """Open a stock-take of a site by hand; refused (409) while one of that site is open."""
        data = validated(StockTakeOpenSerializer, request)
        stocktake = stocktakes.stocktake_open(
            site=data["site"],
            actor=request.user,
            reason=StockTakeReason.MANUAL,
            blind=data["blind"],
            due_days=data["due_days"],
        )
        return self._answer(stocktake, status=status.HTTP_201_CREATED)

    @extend_schema(
        methods=["GET"],
        parameters=[_location_param],
        responses=ScanSerializer(many=True),
        description=_(
            "The scans, newest first, undone ones included. In a blind count, scanning staff "
            "see only their own."
        ),
    )
    @extend_schema(
        methods=["POST"],
        request=ScanInputSerializer,
        responses={201: ScanSerializer, **REFUSED},
        description=_(
            "Record one read tag at a location; the answer says at once what it means. A "
            "terminal found at another location is reported, not moved."
        ),
    )
    @action(
        detail=True,
        methods=["get", "post"],
        filter_backends=[],
        permission_classes=[model_permission(Scan)],
    )
    def scans(self, request, pk=None):
        stocktake = self.get_object()
        if request.method == "POST":
            scan = stocktakes.scan_record(
                stocktake=stocktake, actor=request.user, **validated(ScanInputSerializer, request)
            )
            return Response(ScanSerializer(scan).data, status=status.HTTP_201_CREATED)
        scans = Scan.objects.filter(stocktake=stocktake).select_related(
            "location", "terminal", "scanned_by"
        )
        if not sees_behind_the_blind(request.user, stocktake):
            scans = scans.filter(scanned_by=request.user)
        if location := request.query_params.get("location"):
            scans = scans.filter(location__code=location)
        page = self.paginate_queryset(scans.order_by("-scanned_at", "-id"))
        return self.get_paginated_response(ScanSerializer(page, many=True).data)

    @extend_schema(
        request=ScanBatchInputSerializer,
        responses={201: ScanBatchSerializer, **REFUSED},
        description=_(
            "Record the tags a scanner buffered at one location, in the order read: each is its "
            "own scan with its own result and audit event, as if sent one by one (the same tag "
            'twice is "already scanned here"). All or nothing: a closed stock-take (409) or '
            "a bad tag (400) records none."
        ),
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="scans/batch",
        filter_backends=[],
        permission_classes=[model_permission(Scan)],
    )
    def scan_batch(self, request, pk=None):
        stocktake = self.get_object()
        scans = stocktakes.scan_record_batch(
            stocktake=stocktake, actor=request.user, **validated(ScanBatchInputSerializer, request)
        )
        return Response(
            {"scans": ScanSerializer(scans, many=True).data}, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=None, responses={200: ScanSerializer, **REFUSED})
    @action(detail=True, methods=["post"], permission_classes=[model_permission(Scan)])
    def undo(self, request, pk=None):
        """Undo the caller's last scan in this stock-take (a mistaken read)."""
        scan = stocktakes.scan_undo_last(stocktake=self.get_object(), actor=request.user)
        if scan is None:
            raise RuleViolation(gettext("You have no scan to undo in this stock-take."))
        return Response(ScanSerializer(scan).data)

    @extend_schema(parameters=[_location_param], responses=ExpectationSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def expected(self, request, pk=None):
        """What the inventory expected where when the stock-take opened. Hidden from scanning
        staff in a blind count."""
        stocktake = self.get_object()
        if not sees_behind_the_blind(request.user, stocktake):
            raise PermissionDenied(
                gettext("This is a blind count: the expected list is not shown to scanning staff.")
            )
        expectations = StockTakeExpectation.objects.filter(stocktake=stocktake).select_related(
            "terminal", "location"
        )
        if location := request.query_params.get("location"):
            expectations = expectations.filter(location__code=location)
        page = self.paginate_queryset(
            expectations.order_by("location__path", "terminal__asset_tag")
        )
        return self.get_paginated_response(ExpectationSerializer(page, many=True).data)

    @extend_schema(request=None, responses={200: StockTakeDetailSerializer, **REFUSED})
    @action(detail=True, methods=["post"], permission_classes=[ChangeActionPermission])
    def close(self, request, pk=None):
        """Close the count: every difference becomes a discrepancy to review; the answer holds
        the summary. A count without differences is complete at once."""
        stocktake = stocktakes.stocktake_close(stocktake=self.get_object(), actor=request.user)
        return self._answer(stocktake)

    @report_action(StockTakeReportRowSerializer, permission=model_permission(Discrepancy))
    def report(self, request, pk=None, **kwargs):
        """The stock-take's discrepancies and how each was resolved. `report.csv` or
        `?format=csv` answers CSV."""
        stocktake = self.get_object()
        return report_response(
            request,
            StockTakeReportRowSerializer,
            stocktake_report_rows(stocktake),
            f"stocktake-{stocktake.pk}-report.csv",
        )


# Discrepancies --------------------------------------------------------------------------------


class DiscrepancyFilter(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=DiscrepancyKind.choices)
    status = django_filters.ChoiceFilter(choices=DiscrepancyStatus.choices)
    site = django_filters.CharFilter(method="on_site", label=_("Site (code)"))
    stocktake = django_filters.NumberFilter(field_name="stocktake", label=_("Stock-take (id)"))
    assignee = django_filters.CharFilter(
        field_name="assignee__username", label=_("Assignee (username)")
    )
    unassigned = django_filters.BooleanFilter(
        field_name="assignee", lookup_expr="isnull", label=_("Unassigned")
    )
    terminal = IdentifierFilter(field_name="terminal__asset_tag", label=_("Terminal (asset tag)"))
    opened_before = BoundedIsoDateTimeFilter(
        field_name="opened_at", lookup_expr="lt", label=_("Opened before (ISO 8601)")
    )
    opened_after = BoundedIsoDateTimeFilter(
        field_name="opened_at", lookup_expr="gte", label=_("Opened at or after (ISO 8601)")
    )

    class Meta:
        model = Discrepancy
        fields = [
            "kind",
            "status",
            "site",
            "stocktake",
            "assignee",
            "unassigned",
            "terminal",
            "opened_before",
            "opened_after",
        ]

    def on_site(self, queryset, _name, code):
        return queryset.filter(
            Q(stocktake__site__code=code)
            | Q(location__site__code=code)
            | Q(terminal__location__site__code=code)
        )


_discrepancy_out = {200: DiscrepancySerializer, **REFUSED}


class DiscrepancyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Differences found by stock-takes and policy checks, reviewed by security officers."""

    serializer_class = DiscrepancySerializer
    filterset_class = DiscrepancyFilter
    search_fields = ["subject"]
    ordering_fields = ["opened_at", "kind", "status"]

    def get_queryset(self):
        return selectors.discrepancy_queryset(user=self.request.user).prefetch_related(
            Prefetch(
                "evidence",
                queryset=DiscrepancyEvidence.objects.select_related("uploaded_by").order_by(
                    "uploaded_at", "id"
                ),
            )
        )

    def _answer(self, discrepancy: Discrepancy, **kwargs) -> Response:
        return Response(
            DiscrepancySerializer(self.get_queryset().get(pk=discrepancy.pk)).data, **kwargs
        )

    @extend_schema(request=DiscrepancyAssignSerializer, responses=_discrepancy_out)
    @action(detail=True, methods=["post"], permission_classes=[ChangeActionPermission])
    def assign(self, request, pk=None):
        discrepancy = stocktakes.discrepancy_assign(
            discrepancy=self.get_object(),
            actor=request.user,
            **validated(DiscrepancyAssignSerializer, request),
        )
        return self._answer(discrepancy)

    @extend_schema(request=DiscrepancyResolveSerializer, responses=_discrepancy_out)
    @action(detail=True, methods=["post"], permission_classes=[ChangeActionPermission])
    def resolve(self, request, pk=None):
        """Resolve with an outcome that fits the kind (`allowed_outcomes`) and a note. Whoever
        scanned the stock-take may not resolve its discrepancies (409); resolving the last one
        completes the stock-take."""
        discrepancy = stocktakes.discrepancy_resolve(
            discrepancy=self.get_object(),
            actor=request.user,
            **validated(DiscrepancyResolveSerializer, request),
        )
        return self._answer(discrepancy)

    @extend_schema(request=EvidenceInputSerializer, responses={201: EvidenceSerializer})
    @action(
        detail=True,
        methods=["post"],
        parser_classes=[MultiPartParser, FormParser],
        permission_classes=[model_permission(DiscrepancyEvidence)],
    )
    def evidence(self, request, pk=None):
        """Attach a photo or a PDF (multipart, field `file`)."""
        evidence = stocktakes.discrepancy_add_evidence(
            discrepancy=self.get_object(),
            actor=request.user,
            file=validated(EvidenceInputSerializer, request)["file"],
        )
        return Response(EvidenceSerializer(evidence).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[OpenApiParameter("evidence_id", int, OpenApiParameter.PATH)],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                response=OpenApiTypes.BINARY, description=_("The file as uploaded.")
            )
        },
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"evidence/(?P<evidence_id>[0-9]+)",
        url_name="evidence-file",
        filter_backends=[],
        permission_classes=[model_permission(DiscrepancyEvidence)],
    )
    def evidence_file(self, request, pk=None, evidence_id=None):
        """Download one attached file: the media folder has no public address."""
        evidence = self.get_object().evidence.filter(pk=evidence_id).first()
        if evidence is None:
            raise Http404
        return FileResponse(
            evidence.file.open("rb"),
            as_attachment=True,
            filename=os.path.basename(evidence.file.name),
        )

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "PolicyCheckRun",
            {
                "recorded": serializers.DictField(
                    child=serializers.IntegerField(),
                    help_text=_("New or reopened findings per kind."),
                ),
                "total": serializers.IntegerField(),
            },
        ),
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="run-policy-checks",
        url_name="run-policy-checks",
        permission_classes=[ChangeActionPermission],
    )
    def run_policy_checks(self, request):
        """Run the policy checks now. A finding still open is not recorded twice; a resolved one
        that recurs is reopened."""
        recorded = policy_checks.run_policy_checks()
        return Response({"recorded": recorded, "total": sum(recorded.values())})
