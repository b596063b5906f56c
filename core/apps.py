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
