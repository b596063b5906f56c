from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.identifiers import ORGANIZATION_CODE_RULE, normalise_code, normalise_identifier
from core.models import AuditEvent, Organization
from core.tokens import token_expiry


class IdentifierSlugField(serializers.SlugRelatedField):
    """A related object named by an identifier people type (asset tag, card number): looked up
    in its one stored form (core.identifiers)."""

    def to_internal_value(self, data):
        return super().to_internal_value(normalise_identifier(str(data)))


class CodeInputField(serializers.SlugField):
    """A new code (an organization's, a location's, a target system's), taken in its one form
    (core.identifiers.normalise_code) before the slug rule is checked."""

    def to_internal_value(self, data):
        return super().to_internal_value(normalise_code(str(data)))


class IdentifierLookupMixin:
    """A viewset whose URL names the object by such an identifier: /terminals/nw-0001/ is
    NW-0001."""

    lookup_field: str

    def get_object(self):
        kwargs = self.kwargs  # type: ignore[attr-defined]
        kwargs[self.lookup_field] = normalise_identifier(kwargs[self.lookup_field])
        return super().get_object()  # type: ignore[misc]


def validated(serializer_class: type[serializers.Serializer], request, **kwargs) -> dict:
    """The request's body through an input serializer: its field errors answer 400."""
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class RefusalSerializer(serializers.Serializer):
    """A rule refused the action (409, or the status the refusal carries), for these reasons."""

    detail = serializers.CharField()
    reasons = serializers.ListField(child=serializers.CharField())


REFUSED = {409: RefusalSerializer}


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(
        style={"input_type": "password"}, trim_whitespace=False, max_length=1024
    )
    # Security officers and facilities staff: the code of their authenticator app (or a
    # recovery code), as on the sign-in page.
    otp = serializers.CharField(required=False, allow_blank=True, max_length=32)
    name = serializers.CharField(required=False, allow_blank=True, max_length=100)


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()


class ApiTokenSerializer(serializers.Serializer):
    """A token as its owner (and security) see it: never the token itself."""

    id = serializers.IntegerField()
    user = serializers.CharField(source="user.username")
    name = serializers.CharField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.SerializerMethodField()
    revoked_at = serializers.DateTimeField(allow_null=True)
    revoked_by = serializers.CharField(source="revoked_by.username", allow_null=True, default=None)

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_expires_at(self, token) -> str:
        return serializers.DateTimeField().to_representation(token_expiry(token))


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["code", "name", "kind"]


class OrganizationInputSerializer(serializers.Serializer):
    code = CodeInputField(max_length=32, error_messages={"invalid": ORGANIZATION_CODE_RULE})
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=Organization.Kind.choices)


class OrganizationUpdateSerializer(serializers.Serializer):
    """The code is fixed once the organization exists: other rows refer to it by code."""

    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=Organization.Kind.choices)


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_username")
    # The event's seal; null until the sealer reached it.
    seq = serializers.IntegerField(read_only=True, allow_null=True)
    prev_hash = serializers.CharField(read_only=True, allow_null=True)
    hash = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = AuditEvent
        fields = [
            "seq",
            "occurred_at",
            "actor",
            "action",
            "object_type",
            "object_id",
            "details",
            "prev_hash",
            "hash",
        ]
