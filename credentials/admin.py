"""Admin for credentials: looked at, never written here. Rotations, reveals and locks happen only
through the services (pages, API, tasks), which write their audit events; no ciphertext and no
password is ever shown."""

from django.contrib import admin

from core.admin import ReadOnlyAdmin
from credentials.models import Account, LoginIdRecord, Rotation, SecretVersion, TargetSystem


@admin.register(TargetSystem)
class TargetSystemAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "connector", "password_length", "max_secret_age_days")
    list_filter = ("connector",)
    search_fields = ("code", "name")
    exclude = ("ldap_bind_password_ciphertext", "ldap_bind_password_key_id")


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("login_id", "target_system", "terminal", "state", "rotated_at")
    list_filter = ("state", "target_system")
    list_select_related = ("target_system", "terminal")
    search_fields = ("login_id", "terminal__asset_tag")


@admin.register(SecretVersion)
class SecretVersionAdmin(ReadOnlyAdmin):
    list_display = (
        "account",
        "version",
        "login_id",
        "status",
        "key_id",
        "created_at",
        "revealed_at",
    )
    list_filter = ("status", "key_id")
    list_select_related = ("account__target_system",)
    fields = (
        "account",
        "version",
        "login_id",
        "status",
        "key_id",
        "created_at",
        "became_current_at",
        "revealed_at",
        "revealed_by",
    )


@admin.register(Rotation)
class RotationAdmin(ReadOnlyAdmin):
    list_display = ("pk", "account", "reason", "status", "attempts", "requested_at", "finished_at")
    list_filter = ("status", "reason")
    list_select_related = ("account__target_system",)


@admin.register(LoginIdRecord)
class LoginIdRecordAdmin(ReadOnlyAdmin):
    list_display = ("login_id", "account", "valid_from", "valid_until")
    search_fields = ("login_id",)
    list_select_related = ("account__target_system",)
