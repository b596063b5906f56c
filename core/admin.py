"""Admin for users, organizations, tokens and the audit trail.

Organizations are written through core.services so the admin leaves the same audit events as
the pages; tokens and audit events can only be looked at.
"""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_otp.plugins.otp_static.models import StaticDevice

from core import otp, services
from core.models import (
    ApiToken,
    AuditChainCheck,
    AuditCheckpoint,
    AuditEvent,
    AuditSeal,
    AuditSealGap,
    Authenticator,
    Lease,
    Organization,
    OutboxTask,
    User,
    WorkerHeartbeat,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable, never written from the admin: the services are the only writers."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    # The stubs make list_display an instance variable (a ClassVar cannot be generic).
    list_display = (*DjangoUserAdmin.list_display, "organization")  # type: ignore[misc]
    list_filter = (*DjangoUserAdmin.list_filter, "organization")
    list_select_related = ("organization",)
    fieldsets = (
        *(DjangoUserAdmin.fieldsets or ()),
        (_("Organization"), {"fields": ("organization",)}),
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        (_("Organization"), {"fields": ("organization",)}),
    )

    actions = ("reset_second_factor",)

    # Roles, permissions and activation changed here are audited like any other change of who
    # may do what: read before the form saves, compared once its groups are saved too.
    def save_model(self, request, obj, form, change) -> None:
        request._access_before = services.user_access(
            User.objects.get(pk=obj.pk) if change else None
        )
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        services.user_access_record(
            actor=request.user,
            user=form.instance,
            before=getattr(request, "_access_before", {}),
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        # Audit events keep their actors: users are deactivated, never deleted.
        return False

    @admin.action(
        description=_("Reset the second factor (they enrol again at their next sign-in)"),
        permissions=("reset_second_factor",),
    )
    def reset_second_factor(self, request, queryset) -> None:
        reset = sum(otp.second_factor_reset(user=user, actor=request.user) for user in queryset)
        self.message_user(
            request,
            ngettext(
                "%(count)d person will enrol an authenticator again.",
                "%(count)d people will enrol an authenticator again.",
                reset,
            )
            % {"count": reset},
            messages.SUCCESS,
        )

    def has_reset_second_factor_permission(self, request) -> bool:
        return request.user.has_perm("core.delete_authenticator")


# The recovery codes are the person's own (stored as digests, issued with the authenticator):
# django-otp's admin would only let them be edited past core.otp, in English.
admin.site.unregister(StaticDevice)


@admin.register(Authenticator)
class AuthenticatorAdmin(ReadOnlyAdmin):
    """Who has an authenticator, never its key (encrypted in the database, shown to nobody);
    reset, with the recovery codes, from the user list."""

    list_display = ("user", "name", "confirmed", "created_at", "last_used_at")
    list_filter = ("confirmed",)
    search_fields = ("user__username",)
    fields = list_display
    readonly_fields = fields


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind")
    list_filter = ("kind",)
    search_fields = ("code", "name")

    def get_readonly_fields(self, request, obj=None):
        return ("code",) if obj else ()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        if change:
            services.organization_update(
                organization=obj, actor=request.user, name=obj.name, kind=obj.kind
            )
            return
        created = services.organization_create(
            actor=request.user, code=obj.code, name=obj.name, kind=obj.kind
        )
        obj.pk = created.pk


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ("prefix", "user", "created_at", "last_used_at")
    list_select_related = ("user",)
    search_fields = ("prefix", "user__username")
    # The digest means nothing to a reader; the prefix is what a user can match.
    fields = ("prefix", "user", "created_at", "last_used_at")
    readonly_fields = fields


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "occurred_at", "actor_username", "action", "object_type", "object_id")
    list_filter = ("action", "object_type")
    search_fields = ("action", "object_id", "actor_username")
    date_hierarchy = "occurred_at"
    # Every field is editable=False, so the view-only page shows them only when listed here.
    fields = (
        "seq",
        "occurred_at",
        "actor_username",
        "action",
        "object_type",
        "object_id",
        "details",
        "prev_hash",
        "hash",
    )
    readonly_fields = fields

    # The seal's columns, read through the manager's join, under the seal's own labels.
    @admin.display(description=AuditSeal._meta.get_field("seq").verbose_name, ordering="seq")
    def seq(self, event: AuditEvent) -> int | None:
        return event.seq

    @admin.display(description=AuditSeal._meta.get_field("prev_hash").verbose_name)
    def prev_hash(self, event: AuditEvent) -> str | None:
        return event.prev_hash

    @admin.display(description=AuditSeal._meta.get_field("hash").verbose_name)
    def hash(self, event: AuditEvent) -> str | None:
        return event.hash


@admin.register(AuditSeal)
class AuditSealAdmin(ReadOnlyAdmin):
    list_display = ("seq", "event", "hash")
    fields = ("seq", "event", "prev_hash", "hash")
    readonly_fields = fields


@admin.register(AuditSealGap)
class AuditSealGapAdmin(ReadOnlyAdmin):
    list_display = ("first_id", "last_id", "transactions")
    fields = list_display
    readonly_fields = fields


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("seq", "created_at", "key_id", "witnessed_at", "witness_pending")
    fields = (
        "seq",
        "head_hash",
        "created_at",
        "key_id",
        "signature",
        "witness_pending",
        "witnessed_at",
        "witness_error",
    )
    readonly_fields = fields


@admin.register(AuditChainCheck)
class AuditChainCheckAdmin(ReadOnlyAdmin):
    list_display = ("checked_at", "verified", "broken_seq", "broken_reason")
    fields = list_display
    readonly_fields = fields


@admin.register(Lease)
class LeaseAdmin(ReadOnlyAdmin):
    list_display = ("name", "holder", "expires_at")
    fields = ("name", "holder", "expires_at")
    readonly_fields = fields


@admin.register(OutboxTask)
class OutboxTaskAdmin(ReadOnlyAdmin):
    list_display = ("task_name", "args", "created_at", "attempts")
    fields = ("task_name", "args", "created_at", "attempts")
    readonly_fields = fields


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ("worker", "seen_at")
    fields = ("worker", "seen_at")
    readonly_fields = fields
