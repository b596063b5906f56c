"""Admin for lending: looked at, never written here. Declarations, requests, loans and returns
change only through the services (pages, API), which check the rules and write audit events."""

from django.contrib import admin

from core.admin import ReadOnlyAdmin
from lending.models import (
    AccessRequest,
    Arrangement,
    ArrangementExtension,
    ContractorAudit,
    ContractorReport,
    Declaration,
    Loan,
    OperatorTraining,
    ReturnConfirmation,
    SupervisionException,
)


@admin.register(Declaration)
class DeclarationAdmin(ReadOnlyAdmin):
    list_display = ("title", "status", "declared_at", "lifted_at", "closed_at")
    list_filter = ("status",)
    search_fields = ("title",)


@admin.register(AccessRequest)
class AccessRequestAdmin(ReadOnlyAdmin):
    list_display = ("pk", "contractor", "declaration", "quantity", "status", "submitted_at")
    list_filter = ("status", "declaration")
    list_select_related = ("contractor", "declaration")


@admin.register(Loan)
class LoanAdmin(ReadOnlyAdmin):
    list_display = ("terminal", "request", "status", "checked_out_at", "due_at", "revoked_at")
    list_filter = ("status",)
    list_select_related = ("terminal", "request__contractor")
    search_fields = ("terminal__asset_tag", "operator_name")


@admin.register(ReturnConfirmation)
class ReturnConfirmationAdmin(ReadOnlyAdmin):
    list_display = ("loan", "returned_at", "condition", "received_by", "settled_at")
    list_filter = ("condition",)
    list_select_related = ("loan__terminal", "received_by")


# Contractor supervision: written through lending.supervision (pages, API) only.


@admin.register(ContractorReport)
class ContractorReportAdmin(ReadOnlyAdmin):
    list_display = ("contractor", "period_start", "period_end", "outcome", "reviewed_at")
    list_filter = ("outcome",)
    list_select_related = ("contractor",)


@admin.register(ContractorAudit)
class ContractorAuditAdmin(ReadOnlyAdmin):
    list_display = ("contractor", "audited_on", "follow_up_due", "follow_up_done_at")
    list_select_related = ("contractor",)


@admin.register(OperatorTraining)
class OperatorTrainingAdmin(ReadOnlyAdmin):
    list_display = ("operator_name", "contractor", "course", "expires_on", "undertaking_signed_on")
    list_select_related = ("contractor",)
    search_fields = ("operator_name",)


@admin.register(SupervisionException)
class SupervisionExceptionAdmin(ReadOnlyAdmin):
    list_display = ("contractor", "operator_name", "declaration", "granted_at", "expires_at")
    list_select_related = ("contractor", "declaration")


# Time-boxed arrangements: proposed, approved, extended and ended through lending.arrangements.


@admin.register(Arrangement)
class ArrangementAdmin(ReadOnlyAdmin):
    list_display = ("title", "status", "starts_at", "ends_at", "decided_by", "ended_at")
    list_filter = ("status",)
    list_select_related = ("decided_by",)
    search_fields = ("title",)


@admin.register(ArrangementExtension)
class ArrangementExtensionAdmin(ReadOnlyAdmin):
    list_display = ("arrangement", "previous_ends_at", "new_ends_at", "status", "decided_at")
    list_filter = ("status",)
    list_select_related = ("arrangement",)
