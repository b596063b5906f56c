"""API tokens: who sees which (selector), revoking one (service), and when one stops working.

A token expires API_TOKEN_DAYS after it was issued (core.services.api_token_issue writes its
expires_at); its owner and security officers (core.change_apitoken) may revoke it at once."""

import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import record_event
from core.errors import RuleViolation
from core.models import ApiToken, User

MANAGES_ALL_TOKENS = "core.change_apitoken"


def token_expiry(token: ApiToken) -> datetime.datetime:
    """When the token stops working: its expires_at, or for a token issued before tokens had
    one, API_TOKEN_DAYS after it was issued."""
    return token.expires_at or token.created_at + datetime.timedelta(days=settings.API_TOKEN_DAYS)


def api_token_queryset(*, user: User, everyone: bool = False) -> QuerySet[ApiToken]:
    """The user's own tokens; with `everyone`, every user's for a security officer."""
    tokens = ApiToken.objects.select_related("user", "revoked_by").order_by("-created_at", "-id")
    if everyone and user.has_perm(MANAGES_ALL_TOKENS):
        return tokens
    return tokens.filter(user=user)


def may_revoke(user: User, token: ApiToken) -> bool:
    return token.user_id == user.pk or user.has_perm(MANAGES_ALL_TOKENS)


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor: User) -> ApiToken:
    """Revoke a token now: its next request is refused (401)."""
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if not may_revoke(actor, token):
        raise RuleViolation(_("You may revoke only your own API tokens."))
    if token.revoked_at is not None:
        raise RuleViolation(_("This token was already revoked."))
    token.revoked_at, token.revoked_by = timezone.now(), actor
    token.save(update_fields=["revoked_at", "revoked_by"])
    record_event(
        actor=actor,
        action="api_token.revoked",
        obj=token,
        details={"prefix": token.prefix, "username": token.user.username},
    )
    return token
