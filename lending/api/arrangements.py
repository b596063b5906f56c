"""Arrangements API (暫定運用): list, propose, read; approve or reject a proposal, propose an
extension and approve or reject it. Thin: parse, call lending.arrangements, serialise. Security
proposes and decides (a second officer, never the proposer); auditors read."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from core.api.permissions import ChangeActionPermission
from core.api.serializers import REFUSED, IdentifierSlugField, validated
from core.models import Organization
from credentials.models import Account
from lending import arrangements
from lending.api.serializers import ActionReasonSerializer
from lending.models import Arrangement, ArrangementExtension
from terminals.models import Terminal

# Serializers ----------------------------------------------------------------------------------


class ArrangementExtensionSerializer(serializers.ModelSerializer):
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    decided_by = serializers.CharField(
        source="decided_by.username", read_only=True, allow_null=True
    )

    class Meta:
        model = ArrangementExtension
        fields = [
            "id",
            "previous_ends_at",
            "new_ends_at",
            "reason",
            "status",
            "status_label",
            "requested_by",
            "requested_at",
            "decided_by",
            "decided_at",
        ]
        read_only_fields = fields


class ArrangementSerializer(serializers.ModelSerializer):
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    parties = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    terminals = serializers.SlugRelatedField(slug_field="asset_tag", many=True, read_only=True)
    accounts = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    proposed_by = serializers.CharField(source="proposed_by.username", read_only=True)
    decided_by = serializers.CharField(
        source="decided_by.username", read_only=True, allow_null=True
    )
    extensions = ArrangementExtensionSerializer(many=True, read_only=True)

    class Meta:
        model = Arrangement
        fields = [
            "id",
            "title",
            "reason",
            "status",
            "status_label",
            "parties",
            "terminals",
            "accounts",
            "starts_at",
            "ends_at",
            "proposed_by",
            "proposed_at",
            "decided_by",
            "decided_at",
            "declaration",
            "ended_at",
            "extensions",
        ]
        read_only_fields = fields


class ArrangementInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, allow_blank=True)
    reason = serializers.CharField(max_length=2000, allow_blank=True)
    parties = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Organization.objects.all(),
        many=True,
        help_text=_("Codes of the organizations party to it."),
    )
    terminals = IdentifierSlugField(
        slug_field="asset_tag",
        queryset=Terminal.objects.all(),
        many=True,
        help_text=_("Asset tags of the terminals it covers (in storage)."),
    )
    accounts = serializers.PrimaryKeyRelatedField(
        queryset=Account.objects.all(),
        many=True,
        required=False,
        default=list,
        help_text=_("Ids of its accounts; none: every account of its terminals."),
    )
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()


class ExtensionInputSerializer(serializers.Serializer):
    new_ends_at = serializers.DateTimeField()
    reason = serializers.CharField(max_length=2000, allow_blank=True)


# Views ----------------------------------------------------------------------------------------

_out = {200: ArrangementSerializer, **REFUSED}


class ArrangementViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Time-boxed arrangements with a hard end, approved by a second security officer."""

    serializer_class = ArrangementSerializer
    filterset_fields = ["status"]
    search_fields = ["title"]
    ordering_fields = ["ends_at", "proposed_at"]

    def get_queryset(self):
        return arrangements.arrangement_queryset(user=self.request.user).prefetch_related(
            "terminals", "accounts", "extensions__requested_by", "extensions__decided_by"
        )

    def _answer(self, arrangement: Arrangement, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=arrangement.pk)
        return Response(ArrangementSerializer(fresh).data, status=code)

    @extend_schema(request=ArrangementInputSerializer, responses={201: ArrangementSerializer})
    def create(self, request):
        """Propose an arrangement; it covers nothing until a second officer approves it."""
        arrangement = arrangements.arrangement_propose(
            actor=request.user, **validated(ArrangementInputSerializer, request)
        )
        return self._answer(arrangement, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=_out)
    @action(detail=True, methods=["post"], permission_classes=[ChangeActionPermission])
    def approve(self, request, pk=None):
        """Approve a proposal (not your own): its declaration is declared and lending starts."""
        arrangement = arrangements.arrangement_approve(
            arrangement=self.get_object(), actor=request.user
        )
        return self._answer(arrangement)

    @extend_schema(request=ActionReasonSerializer, responses=_out)
    @action(detail=True, methods=["post"], permission_classes=[ChangeActionPermission])
    def reject(self, request, pk=None):
        """Reject a proposal (not your own), with a reason."""
        arrangement = arrangements.arrangement_reject(
            arrangement=self.get_object(),
            actor=request.user,
            **validated(ActionReasonSerializer, request),
        )
        return self._answer(arrangement)

    @extend_schema(
        request=ExtensionInputSerializer,
        responses={201: ArrangementExtensionSerializer, **REFUSED},
    )
    @action(detail=True, methods=["post"], permission_classes=[ChangeActionPermission])
    def extend(self, request, pk=None):
        """Propose a later hard end, with a reason; a second officer approves it."""
        extension = arrangements.arrangement_extension_propose(
            arrangement=self.get_object(),
            actor=request.user,
            **validated(ExtensionInputSerializer, request),
        )
        return Response(
            ArrangementExtensionSerializer(extension).data, status=status.HTTP_201_CREATED
        )

    def _extension(self, extension_pk: str) -> ArrangementExtension:
        arrangement = self.get_object()
        extension = get_object_or_404(arrangement.extensions.all(), pk=extension_pk)
        extension.arrangement = arrangement
        return extension

    @extend_schema(request=None, responses={200: ArrangementExtensionSerializer, **REFUSED})
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[ChangeActionPermission],
        url_path=r"extensions/(?P<extension_pk>[0-9]+)/approve",
        url_name="extension-approve",
    )
    def approve_extension(self, request, pk=None, extension_pk=None):
        """Approve an extension (not your own): the hard end moves."""
        extension = arrangements.arrangement_extension_approve(
            extension=self._extension(extension_pk), actor=request.user
        )
        return Response(ArrangementExtensionSerializer(extension).data)

    @extend_schema(
        request=ActionReasonSerializer, responses={200: ArrangementExtensionSerializer, **REFUSED}
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[ChangeActionPermission],
        url_path=r"extensions/(?P<extension_pk>[0-9]+)/reject",
        url_name="extension-reject",
    )
    def reject_extension(self, request, pk=None, extension_pk=None):
        """Reject an extension (not your own), with a reason."""
        extension = arrangements.arrangement_extension_reject(
            extension=self._extension(extension_pk),
            actor=request.user,
            **validated(ActionReasonSerializer, request),
        )
        return Response(ArrangementExtensionSerializer(extension).data)
