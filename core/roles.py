"""Roles are groups; Django permissions stand behind each role (see DESIGN.md, Roles)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    FACILITIES = "facilities", _("Facilities staff")
    SECURITY = "security", _("Security officer")
    CONTRACTOR = "contractor", _("Contractor")
    AUDITOR = "auditor", _("Auditor")


_READ_INVENTORY = [
    f"{app}.view_{model}"
    for app, model in (
        ("core", "organization"),
        ("terminals", "location"),
        ("terminals", "terminal"),
        ("terminals", "accesscard"),
        ("terminals", "movement"),
    )
]

_READ_CREDENTIALS = [
    "credentials.view_targetsystem",
    "credentials.view_account",
    "credentials.view_rotation",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.FACILITIES: _READ_INVENTORY
    + _READ_CREDENTIALS
    + [
        "core.add_organization",
        "core.change_organization",
        "terminals.add_location",
        "terminals.change_location",
        "terminals.add_terminal",
        "terminals.change_terminal",
        "terminals.add_accesscard",
        "terminals.change_accesscard",
    ],
    # Security configures target systems and accounts and forces rotations (add_rotation).
    Role.SECURITY: [
        *_READ_INVENTORY,
        *_READ_CREDENTIALS,
        "core.view_auditevent",
        "credentials.add_targetsystem",
        "credentials.change_targetsystem",
        "credentials.add_account",
        "credentials.change_account",
        "credentials.add_rotation",
    ],
    Role.AUDITOR: [*_READ_INVENTORY, *_READ_CREDENTIALS, "core.view_auditevent"],
    Role.CONTRACTOR: [],
}


def ensure_role_groups(**_: object) -> None:
    """Create each role's group with exactly its permissions (run after migrations)."""
    from django.contrib.auth.models import Group, Permission

    for role, perms in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            found = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if found is not None:
                wanted.append(found)
        group.permissions.set(wanted)


def user_role(user) -> str | None:
    if not user.is_authenticated:
        return None
    names = {group.name for group in user.groups.all()}
    for role in Role:
        if role.value in names:
            return role.value
    return None
