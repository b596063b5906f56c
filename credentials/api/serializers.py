"""Credentials over the API. No serializer has a password field for output, ever: the reveal
endpoint builds its one answer by hand."""

from rest_framework import serializers

from core.api.serializers import CodeInputField, IdentifierSlugField
from credentials.models import Account, ConnectorKind, Rotation, TargetSystem
from credentials.targets import POLICY_FIELDS, ldap_url_errors
from terminals.models import Terminal


class TargetSystemSerializer(serializers.ModelSerializer):
    has_bind_password = serializers.SerializerMethodField()

    class Meta:
        model = TargetSystem
        fields = [
            "code",
            "name",
            "connector",
            "ldap_url",
            "ldap_base_dn",
            "ldap_bind_dn",
            "ldap_timeout_seconds",
            "has_bind_password",
            *POLICY_FIELDS,
        ]

    def get_has_bind_password(self, target: TargetSystem) -> bool:
        return target.ldap_bind_password_ciphertext is not None


class TargetSystemInputSerializer(serializers.Serializer):
    code = CodeInputField(max_length=32)
    name = serializers.CharField(max_length=200)
    connector = serializers.ChoiceField(choices=ConnectorKind.choices)
    ldap_url = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)
    ldap_base_dn = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=300
    )
    ldap_bind_dn = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=300
    )
    ldap_bind_password = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        write_only=True,
        max_length=1000,
        style={"input_type": "password"},
    )
    ldap_timeout_seconds = serializers.IntegerField(
        required=False, min_value=1, max_value=120, default=5
    )
    password_length = serializers.IntegerField(required=False, min_value=8, max_value=128)
    min_upper = serializers.IntegerField(required=False, min_value=0)
    min_lower = serializers.IntegerField(required=False, min_value=0)
    min_digits = serializers.IntegerField(required=False, min_value=0)
    min_symbols = serializers.IntegerField(required=False, min_value=0)
    symbols = serializers.CharField(required=False, max_length=64)
    excluded_characters = serializers.CharField(required=False, allow_blank=True, max_length=64)
    login_id_prefix = serializers.RegexField(
        r"^[a-z0-9_-]{0,16}$", required=False, allow_blank=True, max_length=16
    )
    login_id_random_length = serializers.IntegerField(required=False, min_value=4, max_value=32)
    max_secret_age_days = serializers.IntegerField(required=False, min_value=1, max_value=3650)

    def validate_ldap_url(self, value: str) -> str:
        # Checked in the same round as the other fields (the service checks it again).
        if value:
            errors = ldap_url_errors(value)
            if errors:
                raise serializers.ValidationError(errors)
        return value


class AccountSerializer(serializers.ModelSerializer):
    target_system = serializers.SlugRelatedField(slug_field="code", read_only=True)
    terminal = serializers.SlugRelatedField(slug_field="asset_tag", read_only=True)
    version = serializers.IntegerField(
        source="current_version.version", read_only=True, default=None
    )
    revealed = serializers.SerializerMethodField()

    class Meta:
        model = Account
        fields = [
            "id",
            "target_system",
            "terminal",
            "login_id",
            "state",
            "version",
            "rotated_at",
            "revealed",
        ]

    def get_revealed(self, account: Account) -> bool:
        return bool(account.current_version and account.current_version.revealed_at)


class AccountInputSerializer(serializers.Serializer):
    target_system = serializers.SlugRelatedField(
        slug_field="code", queryset=TargetSystem.objects.all()
    )
    terminal = IdentifierSlugField(slug_field="asset_tag", queryset=Terminal.objects.all())


class RevealSerializer(serializers.Serializer):
    login_id = serializers.CharField()
    password = serializers.CharField()


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300)


class RotationSerializer(serializers.ModelSerializer):
    account = serializers.IntegerField(source="account_id")
    login_id = serializers.CharField(source="account.login_id")
    target_system = serializers.CharField(source="account.target_system.code")
    terminal = serializers.CharField(source="account.terminal.asset_tag")
    requested_by = serializers.CharField(source="requested_by.username", default=None)

    class Meta:
        model = Rotation
        fields = [
            "id",
            "account",
            "login_id",
            "target_system",
            "terminal",
            "reason",
            "status",
            "requested_by",
            "requested_at",
            "attempts",
            "last_error",
            "finished_at",
        ]


class ForceRotationSerializer(serializers.Serializer):
    """Exactly one of: an account, every account of a terminal, every account of a target."""

    account = serializers.PrimaryKeyRelatedField(queryset=Account.objects.all(), required=False)
    terminal = IdentifierSlugField(
        slug_field="asset_tag", queryset=Terminal.objects.all(), required=False
    )
    target_system = serializers.SlugRelatedField(
        slug_field="code", queryset=TargetSystem.objects.all(), required=False
    )

    def validate(self, attrs):
        if len(attrs) != 1:
            raise serializers.ValidationError(
                "Give exactly one of account, terminal, target_system."
            )
        return attrs
