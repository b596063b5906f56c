from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CredentialsConfig(AppConfig):
    name = "credentials"
    verbose_name = _("Credentials")

    def ready(self) -> None:
        from credentials.accounts import accounts_delete_after_retirement
        from credentials.selectors import credential_blockers
        from terminals import hooks

        # The inventory asks; credentials answers (terminals never imports credentials).
        hooks.register_storage_blockers(lambda terminal: credential_blockers(terminal=terminal))
        hooks.on_terminal_retired(accounts_delete_after_retirement)
