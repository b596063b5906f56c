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
