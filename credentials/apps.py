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
        _register_audit_words()


def _register_audit_words() -> None:
    """The audit trail in words (core.audit): this app's actions, detail keys and codes."""
    from core.audit import register_action_labels, register_detail_labels, register_detail_values
    from credentials.models import ConnectorKind, RotationReason, TargetSystem

    register_action_labels(
        {
            "target_system.created": _("Target system added"),
            "account.created": _("Account created"),
            "account.locked": _("Account locked"),
            "account.unlocked": _("Account unlocked"),
            "account.deleted": _("Account deleted"),
            "secret.revealed": _("Login ID and password revealed"),
            "secret.extra_reveal_approved": _("Another reveal approved"),
            "rotation.requested": _("Rotation requested"),
            "rotation.awaiting_admin": _("Rotation waiting for the administrator"),
            "rotation.manual_values_shown": _("Rotation values shown to the administrator"),
            "rotation.manual_set_confirmed": _("Rotation values set on the target"),
            "rotation.succeeded": _("Rotation succeeded"),
            "rotation.failed": _("Rotation failed"),
        }
    )
    # A target system's event lists its password policy under the model's field names.
    register_detail_labels(
        {field.name: field.verbose_name for field in TargetSystem._meta.concrete_fields}
    )
    register_detail_labels(
        {
            "target_system": _("target system"),
            "account": _("account"),
            "login_id": _("login ID"),
            "version": _("version"),
            "again": _("again"),
            "old_login_id": _("old login ID"),
            "new_login_id": _("new login ID"),
            "old_version": _("old version"),
            "new_version": _("new version"),
            "attempts": _("attempts"),
        }
    )
    register_detail_values("connector", ConnectorKind.choices, family="target_system")
    register_detail_values("reason", RotationReason.choices, family="rotation")
