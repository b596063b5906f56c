from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from core.roles import ensure_role_groups

        # Permissions exist only after every app migrated, so the role groups follow them.
        post_migrate.connect(ensure_role_groups, dispatch_uid="core.ensure_role_groups")
        from django.contrib.auth.signals import user_logged_in

        from core.otp import mark_session

        # Every sign-in notes whether its session needs the second factor (core.otp).
        user_logged_in.connect(mark_session, dispatch_uid="core.otp.mark_session")
        _register_audit_words()


def _register_audit_words() -> None:
    """Core's own actions, and the detail keys that events of every app share."""
    from core.audit import register_action_labels, register_detail_labels, register_detail_values
    from core.models import OrganizationKind
    from core.roles import Role

    register_action_labels(
        {
            "organization.created": _("Organization added"),
            "organization.updated": _("Organization changed"),
            "api_token.issued": _("API token issued"),
            "api_token.revoked": _("API token revoked"),
            "user.locked_out": _("Sign-in locked out after failed attempts"),
            "user.second_factor_enrolled": _("Authenticator app enrolled"),
            "user.recovery_codes_issued": _("Recovery codes issued"),
            "user.recovery_code_used": _("Recovery code used"),
            "user.second_factor_reset": _("Second factor reset (enrols again)"),
            "user.created": _("User added"),
            "user.updated": _("Roles, permissions or sign-in changed"),
        }
    )
    register_detail_labels(
        {
            "code": _("code"),
            "name": _("name"),
            "kind": _("kind"),
            "status": _("status"),
            "reason": _("reason"),
            "note": _("note"),
            "error": _("error"),
            "prefix": _("prefix"),
            "username": _("username"),
            "role": _("role"),
            "organization": _("organization"),
            "email": _("email address"),
            "address": _("address"),
            "notes": _("notes"),
            "until": _("until"),
            "codes": _("recovery codes"),
            "codes_left": _("recovery codes left"),
            "groups": _("roles"),
            "permissions": _("permissions"),
            "is_active": _("may sign in"),
            "is_staff": _("may use the admin"),
            "is_superuser": _("may do everything"),
        }
    )
    register_detail_values("kind", OrganizationKind.choices, family="organization")
    register_detail_values("role", Role.choices, family="user")
