from django.contrib.auth import authenticate
from django.db.models import F
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from core.api.serializers import (
    AuditEventSerializer,
    OrganizationInputSerializer,
    OrganizationSerializer,
    OrganizationUpdateSerializer,
    TokenRequestSerializer,
)
from core.errors import InvalidInput
from core.filters import AuditEventFilter
from core.models import AuditEvent, Organization
from core.services import api_token_issue, organization_create, organization_update


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Describes `Authorization: Token <token>` in the schema (registered by being defined)."""

    target_class = "core.api.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": _('Token from /api/v1/auth/token/, sent as "Token <token>".'),
        }


class TokenThrottle(AnonRateThrottle):
    rate = "30/min"


class ObtainTokenView(APIView):
    """Exchange a username and password for a new API token (shown once)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [TokenThrottle]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: inline_serializer("TokenResponse", {"token": serializers.CharField()})},
    )
    def post(self, request):
        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if user is None:
            raise InvalidInput(_("Unable to log in with the given username and password."))
        return Response({"token": api_token_issue(user=user)})


class OrganizationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Organization.objects.all()
    serializer_class = OrganizationSerializer
    lookup_field = "code"
    filterset_fields = ["kind"]
    search_fields = ["code", "name"]

    @extend_schema(request=OrganizationInputSerializer, responses={201: OrganizationSerializer})
    def create(self, request, *args, **kwargs):
        data = OrganizationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organization = organization_create(actor=request.user, **data.validated_data)
        return Response(OrganizationSerializer(organization).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=OrganizationUpdateSerializer, responses={200: OrganizationSerializer})
    def update(self, request, *args, **kwargs):
        organization = self.get_object()
        data = OrganizationUpdateSerializer(data=request.data, partial=kwargs.get("partial", False))
        data.is_valid(raise_exception=True)
        organization = organization_update(
            organization=organization,
            actor=request.user,
            name=data.validated_data.get("name", organization.name),
            kind=data.validated_data.get("kind", organization.kind),
        )
        return Response(OrganizationSerializer(organization).data)

    @extend_schema(request=OrganizationUpdateSerializer, responses={200: OrganizationSerializer})
    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit trail, read-only (security officers and auditors)."""

    # Events waiting for the sealer (no seq yet) are the newest: first, by id.
    queryset = AuditEvent.objects.order_by(F("seq").desc(nulls_first=True), "-id")
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    search_fields: list = []
    ordering_fields = ["seq", "occurred_at"]
