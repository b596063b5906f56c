"""Connectors push login IDs, passwords and locks to target systems.

Every call is idempotent, so a rotation retried after a crash at any point can simply call
again with the same values; and no error message carries a password.
"""

from dataclasses import dataclass
from typing import Protocol


class ConnectorError(Exception):
    """The target refused or could not be reached. `retryable` says whether trying later helps.
    The message is the target's own words, never a password."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class LdapSettings:
    url: str
    base_dn: str
    bind_dn: str
    bind_password: str
    timeout: int = 5


class Connector(Protocol):
    def apply_rotation(self, *, old_login_id: str, new_login_id: str, password: str) -> None:
        """Make `new_login_id` exist with `password`, locked, and `old_login_id` gone.
        Renames the old entry if it is there, creates the new one if neither is."""

    def lock(self, login_id: str) -> None: ...

    def unlock(self, login_id: str) -> None: ...

    def verify(self, login_id: str, password: str) -> bool:
        """Whether the login ID signs in with this password (False when locked)."""

    def list_login_ids(self) -> list[str]: ...

    def unlocked_login_ids(self) -> list[str]:
        """The login IDs the target lets sign in now (not locked)."""

    def delete(self, login_id: str) -> None: ...
