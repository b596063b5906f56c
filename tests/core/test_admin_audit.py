"""Who may do what, changed in the admin's user form (roles, own permissions, sign-in, admin and
superuser flags), is audited like every other change: one `user.updated` event naming each
field that changed, before and after, readable on the audit-trail page."""

from django.contrib.auth.models import Group
from django.utils import timezone

from core.models import AuditEvent
from core.roles import Role


def change_form(user, **changes) -> dict:
    """The admin's change form for `user` as its page fills it, with `changes` applied."""
    joined = timezone.localtime(user.date_joined)
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on" if user.is_active else "",
        "is_staff": "on" if user.is_staff else "",
        "is_superuser": "on" if user.is_superuser else "",
        "groups": [str(pk) for pk in user.groups.values_list("pk", flat=True)],
        "user_permissions": [],
        "date_joined_0": joined.strftime("%Y-%m-%d"),
        "date_joined_1": joined.strftime("%H:%M:%S"),
        "organization": str(user.organization_id or ""),
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


def test_a_role_changed_in_the_admin_is_audited_before_and_after(admin_client, admin_user, auditor):
    security = Group.objects.get(name=Role.SECURITY.value)

    response = admin_client.post(
        f"/admin/core/user/{auditor.pk}/change/", change_form(auditor, groups=[str(security.pk)])
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action="user.updated", object_id=str(auditor.pk))
    assert event.actor == admin_user
    assert event.details == {"groups": [[Role.AUDITOR.value], [Role.SECURITY.value]]}
    page = admin_client.get("/audit/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Roles, permissions or sign-in changed" in page


def test_deactivating_a_user_in_the_admin_is_audited_and_saving_unchanged_is_not(
    admin_client, facilities
):
    unchanged = admin_client.post(
        f"/admin/core/user/{facilities.pk}/change/", change_form(facilities)
    )
    assert unchanged.status_code == 302
    assert not AuditEvent.objects.filter(action="user.updated").exists()

    admin_client.post(
        f"/admin/core/user/{facilities.pk}/change/", change_form(facilities, is_active="")
    )

    event = AuditEvent.objects.get(action="user.updated", object_id=str(facilities.pk))
    assert event.details == {"is_active": [True, False]}
