"""Who may do what with credentials beyond the model permissions. Nobody reveals a stored
password unless a policy says so: lending registers the one policy that exists (the borrowing
contractor of an active loan, once)."""

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.utils.translation import gettext as _

from core.errors import RuleViolation
from core.models import User

if TYPE_CHECKING:
    from credentials.models import Account

RevealPolicy = Callable[[User, "Account"], bool]
_reveal_policies: list[RevealPolicy] = []


def register_reveal_policy(policy: RevealPolicy) -> None:
    if policy not in _reveal_policies:
        _reveal_policies.append(policy)


def unregister_reveal_policy(policy: RevealPolicy) -> None:
    if policy in _reveal_policies:
        _reveal_policies.remove(policy)


def may_reveal(user: User, account) -> bool:
    return (
        user.is_authenticated and user.is_active and any(p(user, account) for p in _reveal_policies)
    )


# Forcing rotations, and allowing one more reveal, are security officers' decisions.
DECIDES_ROTATIONS = "credentials.add_rotation"


def require_rotation_authority(actor: User) -> None:
    if not actor.has_perm(DECIDES_ROTATIONS):
        raise RuleViolation(_("Only a security officer may do this."))
