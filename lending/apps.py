from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LendingConfig(AppConfig):
    name = "lending"
    verbose_name = _("Lending")

    def ready(self) -> None:
        from credentials.permissions import register_reveal_policy
        from lending.selectors import borrower_may_reveal

        # The one reveal policy: the borrowing contractor of an open loan of the account's terminal.
        register_reveal_policy(borrower_may_reveal)
