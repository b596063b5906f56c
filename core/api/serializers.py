from rest_framework import serializers

from core.identifiers import ORGANIZATION_CODE_RULE, normalise_identifier
from core.models import AuditEvent, Organization


class IdentifierSlugField(serializers.SlugRelatedField):
    """A related object named by an identifier people type (asset tag, card number): looked up
    in its one stored form (core.identifiers)."""

    def to_internal_value(self, data):
        return super().to_internal_value(normalise_identifier(str(data)))


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
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["code", "name", "kind"]


class OrganizationInputSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=32, error_messages={"invalid": ORGANIZATION_CODE_RULE})
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=Organization.Kind.choices)


class OrganizationUpdateSerializer(serializers.Serializer):
    """The code is fixed once the organization exists: other rows refer to it by code."""

    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=Organization.Kind.choices)


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_username")

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
