"""Inventory API serializers: output serializers describe rows, input serializers only parse
requests (by code, not by primary key) before the services decide."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from core.api.serializers import CodeInputField, IdentifierSlugField
from core.input_limits import TEXT_MAX_LENGTH
from core.models import Organization
from terminals.models import AccessCard, Location, Movement, Terminal
from terminals.validators import validate_hostname

HOSTNAME_HELP = _("An RFC 1123 host name (e.g. nwpc-0001); stored trimmed and in lower case.")
ADDRESSES_HELP = _(
    "The IP addresses it signs in from (for the access-log checks); an address belongs to one "
    "terminal. On an update, the list replaces the old one; leave it out to keep it."
)

# References by code ---------------------------------------------------------------------------


class LocationCodeField(serializers.SlugRelatedField):
    default_error_messages = {
        "does_not_exist": _("No location has the code {value}."),
        "invalid": _("Give a location code."),
    }

    def __init__(self, **kwargs):
        super().__init__(slug_field="code", queryset=Location.objects.all(), **kwargs)


class OrganizationCodeField(serializers.SlugRelatedField):
    default_error_messages = {
        "does_not_exist": _("No organization has the code {value}."),
        "invalid": _("Give an organization code."),
    }

    def __init__(self, **kwargs):
        super().__init__(slug_field="code", queryset=Organization.objects.all(), **kwargs)


class TerminalTagField(IdentifierSlugField):
    default_error_messages = {
        "does_not_exist": _("No terminal has the asset tag {value}."),
        "invalid": _("Give an asset tag."),
    }

    def __init__(self, **kwargs):
        super().__init__(slug_field="asset_tag", queryset=Terminal.objects.all(), **kwargs)


def _reason(*, required: bool) -> serializers.CharField:
    if required:
        return serializers.CharField(max_length=300)
    return serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


# Locations ------------------------------------------------------------------------------------


class LocationSerializer(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    parent = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    site = serializers.SlugRelatedField(slug_field="code", read_only=True)
    custodian = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Location
        fields = [
            "code",
            "name",
            "kind",
            "kind_label",
            "parent",
            "site",
            "custodian",
            "secured",
            "address",
            "stocktake_interval_days",
        ]
        read_only_fields = fields


class LocationCreateSerializer(serializers.Serializer):
    code = CodeInputField(max_length=64)
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=Location.Kind.choices)
    parent = LocationCodeField(required=False, allow_null=True, default=None)
    custodian = OrganizationCodeField()
    secured = serializers.BooleanField(required=False, default=False)
    address = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class LocationUpdateSerializer(serializers.Serializer):
    """Code, kind and parent are fixed once a location exists: its path depends on them."""

    name = serializers.CharField(max_length=200)
    custodian = OrganizationCodeField()
    secured = serializers.BooleanField()
    address = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    stocktake_interval_days = serializers.IntegerField(
        required=False, help_text=_("Sites only: days between scheduled stock-takes.")
    )
    parent = LocationCodeField(
        required=False,
        allow_null=True,
        help_text=_("Fixed: may be sent back unchanged, never changed."),
    )

    def validate_parent(self, parent: Location | None) -> Location | None:
        """A location's place in the tree is fixed: a new parent (the location itself, one
        inside it, or any other) is refused rather than ignored."""
        location = self.context.get("location")
        if location is None or parent == location.parent:
            return parent
        if parent is not None and parent.path.startswith(location.path):
            raise serializers.ValidationError(_("A location cannot be inside itself."))
        raise serializers.ValidationError(
            _("A location's parent is fixed once it exists: create a new location instead.")
        )


# Terminals ------------------------------------------------------------------------------------


class TerminalSerializer(serializers.ModelSerializer):
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    location = serializers.SlugRelatedField(slug_field="code", read_only=True)
    location_name = serializers.CharField(source="location.name", read_only=True)
    site = serializers.SlugRelatedField(source="location.site", slug_field="code", read_only=True)
    custodian = serializers.SlugRelatedField(slug_field="code", read_only=True)
    storage_warnings = serializers.ListField(child=serializers.CharField(), read_only=True)
    addresses = serializers.SlugRelatedField(
        slug_field="address",
        many=True,
        read_only=True,
        help_text=_("The IP addresses it signs in from."),
    )

    class Meta:
        model = Terminal
        fields = [
            "asset_tag",
            "serial_number",
            "hostname",
            "addresses",
            "model_name",
            "status",
            "status_label",
            "location",
            "location_name",
            "site",
            "custodian",
            "notes",
            "storage_warnings",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class TerminalCreateSerializer(serializers.Serializer):
    asset_tag = serializers.CharField(max_length=64)
    serial_number = serializers.CharField(
        max_length=128, required=False, allow_blank=True, default=""
    )
    hostname = serializers.CharField(
        max_length=128,
        required=False,
        allow_blank=True,
        default="",
        validators=[validate_hostname],
        help_text=HOSTNAME_HELP,
    )
    model_name = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    location = LocationCodeField()
    custodian = OrganizationCodeField()
    notes = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=TEXT_MAX_LENGTH
    )
    addresses = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        default=list,
        max_length=64,
        help_text=ADDRESSES_HELP,
    )


class TerminalUpdateSerializer(serializers.Serializer):
    """What describes a terminal; its location and status change only through the actions."""

    serial_number = serializers.CharField(max_length=128, required=False, allow_blank=True)
    hostname = serializers.CharField(
        max_length=128,
        required=False,
        allow_blank=True,
        validators=[validate_hostname],
        help_text=HOSTNAME_HELP,
    )
    model_name = serializers.CharField(max_length=128, required=False, allow_blank=True)
    custodian = OrganizationCodeField(required=False)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX_LENGTH)
    addresses = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        max_length=64,
        help_text=ADDRESSES_HELP,
    )


class TerminalMoveSerializer(serializers.Serializer):
    to_location = LocationCodeField()
    reason = _reason(required=False)


class TerminalTransitionSerializer(serializers.Serializer):
    """Maintenance and return to storage: the terminal may change place on the way."""

    to_location = LocationCodeField(required=False, allow_null=True, default=None)
    reason = _reason(required=False)


class ReasonRequiredSerializer(serializers.Serializer):
    """Lost and retired terminals or cards: the reason is the record of why."""

    reason = _reason(required=True)


class MovementSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(
        source="actor.username",
        read_only=True,
        allow_null=True,
        help_text=_("Who made the change; null when the system did."),
    )
    from_location = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    to_location = serializers.SlugRelatedField(slug_field="code", read_only=True)
    reason = serializers.CharField(
        source="reason_text",
        read_only=True,
        help_text=_("Why: a person's words, or the system's in the language of the request."),
    )

    class Meta:
        model = Movement
        fields = [
            "occurred_at",
            "actor",
            "from_location",
            "to_location",
            "from_status",
            "to_status",
            "reason",
        ]
        read_only_fields = fields


# Access cards ---------------------------------------------------------------------------------


class AccessCardSerializer(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    location = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    terminal = serializers.SlugRelatedField(slug_field="asset_tag", read_only=True, allow_null=True)

    class Meta:
        model = AccessCard
        fields = [
            "card_number",
            "kind",
            "kind_label",
            "status",
            "status_label",
            "location",
            "terminal",
            "notes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AccessCardCreateSerializer(serializers.Serializer):
    card_number = serializers.CharField(max_length=64)
    kind = serializers.ChoiceField(choices=AccessCard.Kind.choices)
    location = LocationCodeField(required=False, allow_null=True, default=None)
    terminal = TerminalTagField(required=False, allow_null=True, default=None)
    notes = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=TEXT_MAX_LENGTH
    )


class AccessCardUpdateSerializer(serializers.Serializer):
    location = LocationCodeField(required=False, allow_null=True)
    terminal = TerminalTagField(required=False, allow_null=True)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX_LENGTH)


class AccessCardStoreSerializer(serializers.Serializer):
    reason = _reason(required=False)
