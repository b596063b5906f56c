"""Admin for lending: looked at, never written here. Declarations, requests, loans and returns
change only through the services (pages, API), which check the rules and write audit events."""

from django.contrib import admin

from core.admin import ReadOnlyAdmin
from lending.models import AccessRequest, Declaration, Loan, ReturnConfirmation


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
