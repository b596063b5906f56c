from typing import cast

from django.contrib.auth import authenticate
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core import lockout, otp
from core.api.serializers import (
    ApiTokenSerializer,
    AuditEventSerializer,
    OrganizationInputSerializer,
    OrganizationSerializer,
    OrganizationUpdateSerializer,
    TokenRequestSerializer,
    TokenResponseSerializer,
)
from core.errors import InvalidInput
from core.filters import AuditEventFilter
from core.models import ApiToken, AuditEvent, Organization, User
from core.ratelimit import check_api
from core.services import api_token_issue, organization_create, organization_update
from core.tokens import api_token_queryset, api_token_revoke

REVOKE_REFUSED = {409: OpenApiResponse(description=_("Already revoked."))}


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


class ObtainTokenView(APIView):
    """Exchange a username and password (and, for security officers and facilities staff, the
    code of their authenticator app as `otp`) for a new API token, shown once; it expires
    API_TOKEN_DAYS later. Failures count towards the sign-in lockout (core.lockout); calls are
    rate limited per address and username (RATE_LIMIT_TOKEN). Both answer 429 with
    Retry-After."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: TokenResponseSerializer,
            400: OpenApiResponse(description=_("Wrong username, password or code.")),
            429: OpenApiResponse(description=_("Locked out or rate limited: see Retry-After.")),
        },
    )
    def post(self, request):
        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        username = data.validated_data["username"]
        check_api(request, scope="token", setting="RATE_LIMIT_TOKEN", username=username)
        until = lockout.locked_until(request, username)
        if until is not None:
            raise Throttled(wait=lockout.retry_after(until), detail=lockout.message(until))
        user = authenticate(request, username=username, password=data.validated_data["password"])
        if user is None:
            self._failed(request, username)
            raise InvalidInput(_("Unable to log in with the given username and password."))
        if otp.needs_second_factor(user):
            code = data.validated_data.get("otp", "")
            if otp.confirmed_authenticator(user) is None:
                raise InvalidInput(
                    _("The code was not accepted."),
                    field_errors={
                        "otp": [
                            _("Set up your authenticator app first: sign in once on the web pages.")
                        ]
                    },
                )
            if not code:
                raise InvalidInput(
                    _("The code was not accepted."),
                    field_errors={
                        "otp": [
                            _(
                                "Your role signs in with a second factor: send the code of "
                                "your authenticator app (or a recovery code) as otp."
                            )
                        ]
                    },
                )
            if not otp.token_second_factor_ok(user=user, code=code):
                self._failed(request, username)
                raise InvalidInput(
                    _("The code was not accepted."),
                    field_errors={"otp": [_("Wrong code. Enter the 6 digits the app shows now.")]},
                )
        lockout.record_success(username)
        token = api_token_issue(user=user, name=data.validated_data.get("name", ""))
        issued = ApiToken.objects.get(digest=ApiToken.digest_of(token))
        return Response(
            TokenResponseSerializer({"token": token, "expires_at": issued.expires_at}).data
        )

    @staticmethod
    def _failed(request, username: str) -> None:
        until = lockout.record_failure(request, username)
        if until is not None:
            raise Throttled(wait=lockout.retry_after(until), detail=lockout.message(until))


class ApiTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your API tokens (a security officer: every user's, `?user=<username>` to pick one);
    never the token itself. Revoking one refuses its next request (401)."""

    serializer_class = ApiTokenSerializer
    permission_classes = [IsAuthenticated]
    lookup_value_regex = "[0-9]+"
    filterset_class = None
    filterset_fields: list = []
    search_fields = ["name", "prefix"]
    ordering_fields = ["created_at", "last_used_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        tokens = api_token_queryset(user=cast(User, self.request.user), everyone=True)
        username = self.request.query_params.get("user")
        return tokens.filter(user__username=username) if username else tokens

    @extend_schema(request=None, responses={200: ApiTokenSerializer, **REVOKE_REFUSED})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        token = api_token_revoke(token=self.get_object(), actor=request.user)
        return Response(ApiTokenSerializer(token).data)


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

    # Newest first, as the audit trail page lists them (core.views.NEWEST_FIRST).
    queryset = AuditEvent.objects.order_by("-id")
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    search_fields: list = []
    ordering_fields = ["seq", "occurred_at"]
