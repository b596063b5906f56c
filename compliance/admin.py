"""Admin for stock-takes and discrepancies: opened, scanned, closed and resolved through
compliance.services (pages and API); here they are looked at, and a stock-take can be closed."""

import os

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from compliance import services
from compliance.models import (
    AccessLogAnalysis,
    AccessLogIngestion,
    AccessLogMapping,
    AuditReport,
    AuditReportSection,
    Discrepancy,
    DiscrepancyEvidence,
    Scan,
    SignInEvent,
    StockTake,
    StockTakeExpectation,
)
from core.admin import ReadOnlyAdmin
from core.errors import ApplicationError


@admin.register(StockTake)
class StockTakeAdmin(ReadOnlyAdmin):
    list_display = (
        "__str__",
        "site",
        "status",
        "reason",
        "blind",
        "opened_at",
        "due_at",
        "closed_at",
        "completed_at",
    )
    list_filter = ("status", "reason", "blind", "site")
    list_select_related = ("site",)
    date_hierarchy = "opened_at"
    actions = ["close"]

    @admin.action(description=_("Close the selected stock-takes"), permissions=["close"])
    def close(self, request, queryset):
        for stocktake in queryset:
            try:
                services.stocktake_close(stocktake=stocktake, actor=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{stocktake}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, gettext("%(st)s closed.") % {"st": stocktake})

    def has_close_permission(self, request) -> bool:
        return request.user.has_perm("compliance.change_stocktake")


@admin.register(StockTakeExpectation)
class StockTakeExpectationAdmin(ReadOnlyAdmin):
    list_display = ("stocktake", "terminal", "location", "status")
    list_filter = ("status",)
    list_select_related = ("stocktake__site", "terminal", "location")
    search_fields = ("terminal__asset_tag", "location__code")


@admin.register(Scan)
class ScanAdmin(ReadOnlyAdmin):
    list_display = (
        "scanned_at",
        "stocktake",
        "location",
        "tag",
        "result",
        "scanned_by",
        "undone_at",
    )
    list_filter = ("result",)
    list_select_related = ("stocktake__site", "location", "scanned_by")
    search_fields = ("tag",)
    date_hierarchy = "scanned_at"


class DiscrepancyEvidenceInline(admin.TabularInline):
    model = DiscrepancyEvidence
    fields = ("download", "uploaded_by", "uploaded_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("file"))
    def download(self, evidence: DiscrepancyEvidence) -> str:
        return _evidence_link(evidence)


def _evidence_link(evidence: DiscrepancyEvidence) -> str:
    # MEDIA_ROOT has no public address: the file is reached through the API's permission check.
    url = reverse(
        "discrepancy-evidence-file",
        kwargs={"pk": evidence.discrepancy_id, "evidence_id": evidence.pk},
    )
    return format_html('<a href="{}">{}</a>', url, os.path.basename(evidence.file.name))


@admin.register(Discrepancy)
class DiscrepancyAdmin(ReadOnlyAdmin):
    list_display = (
        "opened_at",
        "kind",
        "subject",
        "status",
        "stocktake",
        "location",
        "terminal",
        "assignee",
        "outcome",
        "resolved_at",
    )
    list_filter = ("status", "kind", "outcome")
    list_select_related = ("stocktake__site", "location", "terminal", "assignee")
    search_fields = ("subject", "terminal__asset_tag")
    date_hierarchy = "opened_at"
    inlines = [DiscrepancyEvidenceInline]


@admin.register(DiscrepancyEvidence)
class DiscrepancyEvidenceAdmin(ReadOnlyAdmin):
    list_display = ("download", "discrepancy", "uploaded_by", "uploaded_at")
    list_select_related = ("discrepancy", "uploaded_by")
    search_fields = ("file", "discrepancy__subject")
    fields = ("discrepancy", "download", "uploaded_by", "uploaded_at")
    readonly_fields = fields

    @admin.display(description=_("file"))
    def download(self, evidence: DiscrepancyEvidence) -> str:
        return _evidence_link(evidence)


# Access logs and internal audit reports: read in, analysed and produced by their services
# (pages, API, the command, the worker); looked at here.


@admin.register(AccessLogMapping)
class AccessLogMappingAdmin(ReadOnlyAdmin):
    list_display = ("target_system", "time_column", "login_id_column", "time_zone", "updated_at")
    list_select_related = ("target_system",)


@admin.register(AccessLogIngestion)
class AccessLogIngestionAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at", "target_system", "format", "source", "status", "lines_read", "accepted",
        "malformed", "duplicates",
    )  # fmt: skip
    list_filter = ("status", "format", "source")
    list_select_related = ("target_system",)
    exclude = ("file",)


@admin.register(SignInEvent)
class SignInEventAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "target_system", "login_id", "result", "source_host")
    list_filter = ("result",)
    list_select_related = ("target_system",)
    search_fields = ("login_id", "source_host")


@admin.register(AccessLogAnalysis)
class AccessLogAnalysisAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "finished_at", "first_event_id", "last_event_id", "findings")


@admin.register(AuditReport)
class AuditReportAdmin(ReadOnlyAdmin):
    list_display = ("period_start", "period_end", "status", "produced_by", "produced_at")
    list_filter = ("status",)
    list_select_related = ("produced_by",)


@admin.register(AuditReportSection)
class AuditReportSectionAdmin(ReadOnlyAdmin):
    list_display = ("report", "name", "rows", "sha256")
    list_select_related = ("report",)
    exclude = ("csv",)
