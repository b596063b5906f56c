from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TerminalsConfig(AppConfig):
    name = "terminals"
    verbose_name = _("Terminals")

    def ready(self) -> None:
        from core.audit import (
            register_action_labels,
            register_detail_labels,
            register_detail_values,
        )
        from terminals.models import AccessCardKind, AccessCardStatus, LocationKind, TerminalStatus

        # The audit trail in words (core.audit): this app's actions, detail keys and codes.
        register_action_labels(
            {
                "location.created": _("Location added"),
                "location.updated": _("Location changed"),
                "terminal.created": _("Terminal registered"),
                "terminal.updated": _("Terminal changed"),
                "terminal.moved": _("Terminal moved"),
                "terminal.reserved": _("Terminal reserved for a loan"),
                "terminal.lent": _("Terminal lent"),
                "terminal.returned": _("Terminal returned"),
                "terminal.in_storage": _("Terminal back in storage"),
                "terminal.maintenance": _("Terminal sent to maintenance"),
                "terminal.lost": _("Terminal marked lost"),
                "terminal.retired": _("Terminal retired"),
                "access_card.created": _("Access card registered"),
                "access_card.updated": _("Access card changed"),
                "access_card.lent": _("Access card lent"),
                "access_card.in_storage": _("Access card back in storage"),
                "access_card.lost": _("Access card marked lost"),
                "access_card.retired": _("Access card retired"),
            }
        )
        register_detail_labels(
            {
                "asset_tag": _("asset tag"),
                "serial_number": _("serial number"),
                "hostname": _("hostname"),
                "addresses": _("addresses"),
                "model_name": _("model"),
                "card_number": _("card number"),
                "terminal": _("terminal"),
                "terminal_id": _("terminal"),
                "location": _("location"),
                "location_id": _("location"),
                "parent": _("parent"),
                "custodian": _("custodian"),
                "custodian_id": _("custodian"),
                "secured": _("secured"),
                "stocktake_interval_days": _("stock-take interval (days)"),
                "from_status": _("from status"),
                "to_status": _("to status"),
                "from_location": _("from location"),
                "to_location": _("to location"),
            }
        )
        for key in ("status", "from_status", "to_status"):
            register_detail_values(key, TerminalStatus.choices, family="terminal")
            register_detail_values(key, AccessCardStatus.choices, family="access_card")
        register_detail_values("kind", LocationKind.choices, family="location")
        register_detail_values("kind", AccessCardKind.choices, family="access_card")
