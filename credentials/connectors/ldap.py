"""OpenLDAP connector: an account is the entry `uid=<login ID>,<base DN>` (objectClasses
`account` and `simpleSecurityObject`), locked and unlocked through the ppolicy overlay.

Errors are rebuilt from result codes and exception class names, never from ldap3's own
messages or exception chains: those can carry the request, and so the password.
"""

import secrets
import ssl
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from ldap3 import BASE, LEVEL, MODIFY_DELETE, MODIFY_REPLACE, NONE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPCommunicationError, LDAPException, LDAPResponseTimeoutError
from ldap3.core.results import (
    RESULT_ADMIN_LIMIT_EXCEEDED,
    RESULT_BUSY,
    RESULT_CODES,
    RESULT_ENTRY_ALREADY_EXISTS,
    RESULT_INVALID_CREDENTIALS,
    RESULT_NO_SUCH_ATTRIBUTE,
    RESULT_NO_SUCH_OBJECT,
    RESULT_SUCCESS,
    RESULT_TIME_LIMIT_EXCEEDED,
    RESULT_UNAVAILABLE,
)
from ldap3.utils.dn import escape_rdn, parse_dn

from credentials.connectors import ConnectorError, LdapSettings

# ppolicy reads this value as "locked until an administrator unlocks it".
PERMANENTLY_LOCKED = "000001010000Z"

# The server is overloaded or going down: the same request may well succeed later.
_TRANSIENT_RESULTS = frozenset(
    {RESULT_TIME_LIMIT_EXCEEDED, RESULT_ADMIN_LIMIT_EXCEEDED, RESULT_BUSY, RESULT_UNAVAILABLE}
)
# During a rotation these mean another writer moved the entry between our look-up and our
# change; the next attempt looks again and converges.
_RACES = frozenset({RESULT_NO_SUCH_OBJECT, RESULT_ENTRY_ALREADY_EXISTS})

_PAGED_RESULTS = "1.2.840.113556.1.4.319"


class LdapConnector:
    # Servers cap the entries of one search (slapd: 500 by default); pages get them all.
    page_size = 500

    def __init__(self, settings: LdapSettings):
        self._settings = settings
        # ldap3 refuses the "ldap://host/" form of RFC 4516 URLs, and would not check an
        # ldaps:// certificate unless told to.
        self._server = Server(
            settings.url.removesuffix("/"),
            connect_timeout=settings.timeout,
            get_info=NONE,
            tls=Tls(validate=ssl.CERT_REQUIRED),
        )

    def apply_rotation(self, *, old_login_id: str, new_login_id: str, password: str) -> None:
        old_dn, new_dn = self._dn(old_login_id), self._dn(new_login_id)
        with self._admin() as conn:
            old_exists = old_login_id != new_login_id and self._exists(conn, old_dn)
            if self._exists(conn, new_dn):
                if old_exists:
                    # Someone made the new entry beside the old one; the old login ID must
                    # stop working all the same.
                    conn.delete(old_dn)
                    self._check(conn, f"delete {old_dn}", retryable=_RACES)
            elif old_exists:
                conn.modify_dn(old_dn, f"uid={escape_rdn(new_login_id)}", delete_old_dn=True)
                self._check(conn, f"rename {old_dn} to {new_dn}", retryable=_RACES)
            else:
                # simpleSecurityObject requires a password before the real one can be set;
                # the entry starts locked so that a crash here leaves nothing to sign in to.
                conn.add(
                    new_dn,
                    ["account", "simpleSecurityObject"],
                    {
                        "uid": new_login_id,
                        "userPassword": secrets.token_urlsafe(32),
                        "pwdAccountLockedTime": PERMANENTLY_LOCKED,
                    },
                )
                self._check(conn, f"add {new_dn}", retryable=_RACES)
            # The password modify operation lets the server hash the password with its own
            # scheme. ppolicy clears the lock when an administrator sets a password, so the
            # lock comes after it.
            conn.extend.standard.modify_password(user=new_dn, new_password=password)
            self._check(conn, f"set the password of {new_dn}", retryable=_RACES)
            self._set_lock(conn, new_dn)

    def lock(self, login_id: str) -> None:
        with self._admin() as conn:
            self._set_lock(conn, self._dn(login_id))

    def unlock(self, login_id: str) -> None:
        dn = self._dn(login_id)
        with self._admin() as conn:
            conn.modify(dn, {"pwdAccountLockedTime": [(MODIFY_DELETE, [])]})
            self._check(conn, f"unlock {dn}", ok={RESULT_NO_SUCH_ATTRIBUTE})

    def verify(self, login_id: str, password: str) -> bool:
        # An empty password would make an unauthenticated bind, which says nothing.
        if not password:
            return False
        dn = self._dn(login_id)
        with self._session(dn, password) as conn:
            if conn.bind():
                return True
            self._check(conn, f"bind as {dn}", ok={RESULT_INVALID_CREDENTIALS})
            return False

    def list_login_ids(self) -> list[str]:
        base_dn = self._settings.base_dn
        login_ids = []
        with self._admin() as conn:
            cookie = None
            while True:
                conn.search(
                    base_dn,
                    "(objectClass=account)",
                    LEVEL,
                    attributes=["uid"],
                    paged_size=self.page_size,
                    paged_cookie=cookie,
                )
                self._check(conn, f"list the accounts under {base_dn}")
                login_ids += [
                    _rdn_uid(entry) for entry in conn.response if entry["type"] == "searchResEntry"
                ]
                controls = conn.result.get("controls") or {}
                cookie = controls.get(_PAGED_RESULTS, {}).get("value", {}).get("cookie")
                if not cookie:
                    return login_ids

    def delete(self, login_id: str) -> None:
        dn = self._dn(login_id)
        with self._admin() as conn:
            conn.delete(dn)
            self._check(conn, f"delete {dn}", ok={RESULT_NO_SUCH_OBJECT})

    def _dn(self, login_id: str) -> str:
        return f"uid={escape_rdn(login_id)},{self._settings.base_dn}"

    def _exists(self, conn: Connection, dn: str) -> bool:
        conn.search(dn, "(objectClass=*)", BASE, attributes=["1.1"])
        self._check(conn, f"look up {dn}", ok={RESULT_NO_SUCH_OBJECT})
        return conn.result["result"] == RESULT_SUCCESS

    def _set_lock(self, conn: Connection, dn: str) -> None:
        conn.modify(dn, {"pwdAccountLockedTime": [(MODIFY_REPLACE, [PERMANENTLY_LOCKED])]})
        self._check(conn, f"lock {dn}")

    @contextmanager
    def _admin(self) -> Iterator[Connection]:
        settings = self._settings
        with self._session(settings.bind_dn, settings.bind_password) as conn:
            conn.bind()
            self._check(conn, f"bind as {settings.bind_dn}")
            yield conn

    @contextmanager
    def _session(self, user: str, password: str) -> Iterator[Connection]:
        conn = Connection(
            self._server,
            user=user,
            password=password,
            receive_timeout=self._settings.timeout,
            raise_exceptions=False,
        )
        try:
            yield conn
        except (LDAPCommunicationError, LDAPResponseTimeoutError) as exc:
            raise ConnectorError(
                f"{self._settings.url}: cannot talk to the server ({_kind(exc)})", retryable=True
            ) from None
        except LDAPException as exc:
            raise ConnectorError(f"{self._settings.url}: {_kind(exc)}", retryable=False) from None
        finally:
            # A failed unbind must not hide the outcome of the work done before it.
            with suppress(LDAPException, OSError):
                conn.unbind()

    def _check(
        self,
        conn: Connection,
        what: str,
        *,
        ok: set[int] | frozenset[int] = frozenset(),
        retryable: set[int] | frozenset[int] = frozenset(),
    ) -> None:
        result = conn.result
        code = result["result"]
        if code == RESULT_SUCCESS or code in ok:
            return
        description = RESULT_CODES.get(code, "unknown result")
        message = f"{self._settings.url}: {what}: {description} ({code})"
        if result.get("message"):
            message += f": {result['message']}"
        raise ConnectorError(message, retryable=code in _TRANSIENT_RESULTS or code in retryable)


def _rdn_uid(entry: dict) -> str:
    """The uid that names the entry (an account may carry several)."""
    uids = entry["attributes"]["uid"]
    rdn_value = parse_dn(entry["dn"])[0][1]
    return next((uid for uid in uids if escape_rdn(uid) == rdn_value), uids[0])


def _kind(exc: LDAPException) -> str:
    """The exception's class, and the socket error's class that ldap3 mixes into it."""
    os_errors = [
        cls.__name__
        for cls in type(exc).__mro__
        if issubclass(cls, OSError) and not issubclass(cls, LDAPException)
    ]
    return ", ".join([type(exc).__name__, *os_errors[:1]])
