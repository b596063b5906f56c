"""Reads about people that every app needs."""

from django.db.models import Q, QuerySet

from core.models import User


def users_holding(perm: str) -> QuerySet[User]:
    """Active users who hold `perm` through a role or directly: whom to ask or to tell about the
    work that permission allows (reviewers, approvers, recipients of a summary)."""
    app_label, codename = perm.split(".", 1)
    through_group = Q(
        groups__permissions__content_type__app_label=app_label,
        groups__permissions__codename=codename,
    )
    directly = Q(
        user_permissions__content_type__app_label=app_label,
        user_permissions__codename=codename,
    )
    return User.objects.filter(through_group | directly, is_active=True).distinct()


def emails_of_users_holding(*perms: str) -> list[str]:
    """Each address once, in order, of the active users holding any of `perms`."""
    emails: set[str] = set()
    for perm in perms:
        emails.update(users_holding(perm).exclude(email="").values_list("email", flat=True))
    return sorted(emails)
