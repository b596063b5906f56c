from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LendingConfig(AppConfig):
    name = "lending"
    verbose_name = _("Lending")

    def ready(self) -> None:
        from credentials.permissions import register_reveal_policy
        from lending.selectors import borrower_may_reveal, loan_holding
        from terminals import hooks

        # The one reveal policy: the borrowing contractor of an open loan of the account's terminal.
        register_reveal_policy(borrower_may_reveal)
        # A reserved or lent terminal changes state only through its loan.
        hooks.register_loan_holds(loan_holding)
