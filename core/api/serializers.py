from rest_framework import serializers

from core.models import AuditEvent, Organization


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
    code = serializers.SlugField(max_length=32)
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
