import re

from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from core.audit import record_event
from core.errors import InvalidInput, created_unless_taken
from core.identifiers import ORGANIZATION_CODE_PATTERN, ORGANIZATION_CODE_RULE, normalise_code
from core.models import Organization, User
from core.roles import Role


@transaction.atomic
def organization_create(*, actor: User | None, code: str, name: str, kind: str) -> Organization:
    code = normalise_code(code)
    errors: dict[str, list[str]] = {}
    if not re.match(ORGANIZATION_CODE_PATTERN, code):
        errors["code"] = [str(ORGANIZATION_CODE_RULE)]
    elif Organization.objects.filter(code=code).exists():
        errors["code"] = [_("An organization with code %(code)s already exists.") % {"code": code}]
    if kind not in Organization.Kind.values:
        errors["kind"] = [_("Unknown kind: %(kind)s.") % {"kind": kind}]
    if errors:
        raise InvalidInput(_("The organization was not saved."), field_errors=errors)
    organization = created_unless_taken(
        lambda: Organization.objects.create(code=code, name=name, kind=kind),
        _("The organization was not saved."),
        {"code": [_("An organization with code %(code)s already exists.") % {"code": code}]},
    )
    record_event(
        actor=actor,
        action="organization.created",
        obj=organization,
        details={"code": code, "name": name, "kind": kind},
    )
    return organization


@transaction.atomic
def organization_update(
    *, organization: Organization, actor: User | None, name: str, kind: str
) -> Organization:
    if kind not in Organization.Kind.values:
        raise InvalidInput(
            _("The organization was not saved."),
            field_errors={"kind": [_("Unknown kind: %(kind)s.") % {"kind": kind}]},
        )
    organization = Organization.objects.select_for_update(of=("self",)).get(pk=organization.pk)
    changes = {
        field: [getattr(organization, field), value]
        for field, value in (("name", name), ("kind", kind))
        if getattr(organization, field) != value
    }
    if not changes:
        return organization
    organization.name, organization.kind = name, kind
    organization.save(update_fields=["name", "kind"])
    record_event(actor=actor, action="organization.updated", obj=organization, details=changes)
    return organization


@transaction.atomic
def api_token_issue(*, user: User, name: str = "") -> str:
    """Issue a new API token and return it; only its prefix and digest are kept. It expires
    API_TOKEN_DAYS from now (core.tokens)."""
    import secrets
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from core.models import ApiToken

    token = secrets.token_urlsafe(32)
    api_token = ApiToken.objects.create(
        user=user,
        prefix=token[:8],
        digest=ApiToken.digest_of(token),
        name=name[:100],
        expires_at=timezone.now() + timedelta(days=settings.API_TOKEN_DAYS),
    )
    record_event(
        actor=user,
        action="api_token.issued",
        obj=api_token,
        details={"prefix": api_token.prefix, "name": api_token.name},
    )
    return token


@transaction.atomic
def user_create(
    *,
    actor: User | None,
    username: str,
    role: str,
    password: str,
    organization: Organization | None = None,
    email: str = "",
) -> User:
    """Create a user in one role; the password is checked by Django's validators, never logged."""
    username = normalise_code(username)
    errors: dict[str, list[str]] = {}
    if not username:
        errors["username"] = [_("A username is required.")]
    elif User.objects.filter(username=username).exists():
        errors["username"] = [_("A user named %(name)s already exists.") % {"name": username}]
    if role not in Role.values:
        errors["role"] = [
            _("Unknown role: %(role)s (one of %(roles)s).")
            % {"role": role, "roles": ", ".join(Role.values)}
        ]
    candidate = User(username=username, email=email, organization=organization)
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        raise InvalidInput(_("The user was not saved."), field_errors=errors)
    user = User.objects.create_user(
        username=username, email=email, password=password, organization=organization
    )
    user.groups.add(Group.objects.get(name=role))
    record_event(
        actor=actor,
        action="user.created",
        obj=user,
        details={
            "username": username,
            "role": role,
            "organization": organization.code if organization else None,
            "email": email,
        },
    )
    return user


def user_access(user: User | None) -> dict[str, object]:
    """What decides what a person may do: their roles (groups), their own permissions, and
    whether they may sign in, reach the admin or do everything. None: not a user yet."""
    if user is None or user.pk is None:
        return {}
    return {
        "groups": sorted(user.groups.values_list("name", flat=True)),
        "permissions": sorted(
            f"{app}.{codename}"
            for app, codename in user.user_permissions.values_list(
                "content_type__app_label", "codename"
            )
        ),
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
    }


def user_access_record(*, actor: User | None, user: User, before: dict[str, object]) -> bool:
    """Audit a change of a person's access made outside the services (the admin's user form):
    `user.updated` with each field that changed as [before, after] (`user.created`, with what
    they may do, for one just added). False when nothing changed."""
    after = user_access(user)
    if not before:
        details: dict[str, object] = {"username": user.get_username(), **after}
        action = "user.created"
    else:
        details = {
            field: [before.get(field), value]
            for field, value in after.items()
            if before.get(field) != value
        }
        if not details:
            return False
        action = "user.updated"
    record_event(actor=actor, action=action, obj=user, details=details)
    return True
