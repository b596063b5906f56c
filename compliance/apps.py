import posixpath

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = _("Compliance")

    def ready(self) -> None:
        from compliance import selectors, services
        from lending import hooks

        # Lending announces; compliance reacts (lending never imports compliance).
        hooks.on_declaration_closed(services.stocktakes_open_after_declaration)
        hooks.on_card_not_returned(services.discrepancy_card_not_returned)
        # A close refused for a card still out links to the finding that settles it.
        hooks.register_card_resolver(selectors.card_finding_url)
        _register_audit_words()
        _register_access_log_words()


def _register_audit_words() -> None:
    """The audit trail in words (core.audit): this app's actions, detail keys and codes."""
    from compliance.models import (
        DiscrepancyKind,
        DiscrepancyOutcome,
        ScanResult,
        StockTakeReason,
    )
    from core.audit import (
        format_iso_datetime,
        register_action_labels,
        register_detail_labels,
        register_detail_values,
    )
    from terminals.models import TerminalStatus

    register_action_labels(
        {
            "stocktake.opened": _("Stock-take opened"),
            "stocktake.scanned": _("Tag scanned"),
            "stocktake.scan_undone": _("Scan undone"),
            "stocktake.closed": _("Stock-take closed"),
            "stocktake.completed": _("Stock-take completed"),
            "discrepancy.opened": _("Discrepancy found"),
            "discrepancy.reopened": _("Discrepancy found again"),
            "discrepancy.assigned": _("Discrepancy assigned"),
            "discrepancy.resolved": _("Discrepancy resolved"),
            "discrepancy.evidence_added": _("Evidence added to a discrepancy"),
            "access_log.analysed": _("Access logs analysed"),
            "audit_report.requested": _("Internal audit report requested"),
            "audit_report.produced": _("Internal audit report produced"),
            "audit_report.failed": _("Internal audit report failed"),
        }
    )
    register_detail_labels(
        {
            "period_start": _("from"),
            "period_end": _("to"),
            "digest": _("digest"),
            "sections": _("sections (SHA-256)"),
            "requested_by": _("requested by"),
        }
    )
    register_detail_labels(
        {
            "site": _("site"),
            "blind": _("blind count"),
            "expected": _("expected"),
            "tag": _("asset tag"),
            "result": _("result"),
            "discrepancies": _("discrepancies"),
            "subject": _("subject"),
            "assignee": _("assignee"),
            "outcome": _("outcome"),
            "evidence": _("evidence"),
            "size": _("size (bytes)"),
            "sha256": "SHA-256",
            "access_card": _("access card"),
            "last_completed": _("last completed"),
            "interval_days": _("interval (days)"),
        }
    )
    register_detail_values("kind", DiscrepancyKind.choices, family="discrepancy")
    register_detail_values("outcome", DiscrepancyOutcome.choices, family="discrepancy")
    # A policy finding about a terminal records the terminal's status.
    register_detail_values("status", TerminalStatus.choices, family="discrepancy")
    register_detail_values("last_completed", format_iso_datetime, family="discrepancy")
    # Evidence is stored under an upload folder; the reader knows the file by its own name.
    register_detail_values("name", posixpath.basename, family="discrepancy")
    register_detail_values("reason", StockTakeReason.choices, family="stocktake")
    register_detail_values("result", ScanResult.choices, family="stocktake")
    register_detail_values("discrepancies", DiscrepancyKind.choices, family="stocktake")
    # An access-log analysis: the sign-ins it judged and its findings per kind.
    register_detail_labels(
        {
            "first_event": _("first sign-in judged"),
            "last_event": _("last sign-in judged"),
            "events": _("sign-ins judged"),
            "sign_in": _("sign-in"),
        }
    )
    register_detail_values("discrepancies", DiscrepancyKind.choices, family="access_log")
    # A report's sections by their titles, each with its SHA-256.
    from compliance.audit_report import SECTIONS

    register_detail_values(
        "sections", [(spec.name, spec.title) for spec in SECTIONS], family="audit_report"
    )


def _register_access_log_words() -> None:
    """The access-log ingestions' actions and details (compliance.access_logs)."""
    from compliance.models import AccessLogFormat, IngestionSource
    from core.audit import register_action_labels, register_detail_labels, register_detail_values

    register_action_labels(
        {
            "access_log.ingestion_queued": _("Access log received"),
            "access_log.ingestion_started": _("Access log being read"),
            "access_log.ingestion_done": _("Access log read"),
            "access_log.ingestion_failed": _("Access log could not be read"),
            "access_log.mapping_updated": _("Access log mapping changed"),
        }
    )
    register_detail_labels(
        {
            "format": _("format"),
            "file_name": _("file name"),
            "file_sha256": _("file SHA-256"),
            "lines_read": _("lines read"),
            "accepted": _("accepted"),
            "malformed": _("malformed"),
            "duplicates": _("duplicates"),
            "again": _("read again after a stop"),
            "changes": _("changes"),
            "source": _("source"),
        }
    )
    register_detail_values("format", AccessLogFormat.choices, family="access_log")
    register_detail_values("source", IngestionSource.choices, family="access_log")
