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
