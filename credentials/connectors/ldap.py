"""OpenLDAP connector: an account is the entry `uid=<login ID>,<base DN>` (objectClasses
`account` and `simpleSecurityObject`), locked and unlocked through the ppolicy overlay.

Errors are rebuilt from result codes and exception class names, never from ldap3's own
messages or exception chains: those can carry the request, and so the password.
"""

import ipaddress
import os
import re
import secrets
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TypeVar
from urllib.parse import urlsplit

from ldap3 import LEVEL, MODIFY_DELETE, MODIFY_REPLACE, NONE, Connection, Server, Tls
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

# One bound administrator connection per server and credentials, per thread of a process (a
# Celery worker process has one): binding for every rotation costs as much as the rotation.
_kept = threading.local()
_T = TypeVar("_T")


class LdapConnector:
    # Servers cap the entries of one search (slapd: 500 by default); pages get them all.
    page_size = 500

    def __init__(self, settings: LdapSettings):
        self._settings = settings
        self._server_made: Server | None = None

    @property
    def _server(self) -> Server:
        """Made on first use, so that a target saved with a bad address (before addresses were
        checked) fails each call with a ConnectorError, like a server that is down, instead of
        failing whoever made the connector."""
        if self._server_made is None:
            url = self._settings.url
            problem = ldap_url_problem(url)
            if problem:
                raise ConnectorError(f"{url}: not a directory address ({problem})", retryable=False)
            # ldap3 refuses the "ldap://host/" form of RFC 4516 URLs, and would not check an
            # ldaps:// certificate unless told to.
            try:
                self._server_made = Server(
                    url.removesuffix("/"),
                    connect_timeout=self._settings.timeout,
                    get_info=NONE,
                    tls=Tls(validate=ssl.CERT_REQUIRED),
                )
            except LDAPException as exc:
                raise ConnectorError(f"{url}: {_kind(exc)}", retryable=False) from None
        return self._server_made

    def apply_rotation(self, *, old_login_id: str, new_login_id: str, password: str) -> None:
        """Three operations when all is as the database says (rename, password, lock): no
        search first. The rename's answer tells which of the other cases this is."""
        old_dn, new_dn = self._dn(old_login_id), self._dn(new_login_id)

        def rotate(conn: Connection) -> None:
            create = old_login_id == new_login_id
            if not create:
                conn.modify_dn(old_dn, f"uid={escape_rdn(new_login_id)}", delete_old_dn=True)
                code = conn.result["result"]
                if code == RESULT_ENTRY_ALREADY_EXISTS:
                    # Someone made the new entry beside the old one; the old login ID must
                    # stop working all the same.
                    conn.delete(old_dn)
                    self._check(conn, f"delete {old_dn}", ok={RESULT_NO_SUCH_OBJECT})
                elif code == RESULT_NO_SUCH_OBJECT:
                    # Renamed by an earlier try, or never made: the new entry may exist.
                    create = True
                else:
                    self._check(conn, f"rename {old_dn} to {new_dn}", retryable=_RACES)
            if create:
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
                self._check(
                    conn, f"add {new_dn}", ok={RESULT_ENTRY_ALREADY_EXISTS}, retryable=_RACES
                )
            # The password modify operation lets the server hash the password with its own
            # scheme. ppolicy clears the lock when an administrator sets a password, so the
            # lock comes after it.
            conn.extend.standard.modify_password(user=new_dn, new_password=password)
            self._check(conn, f"set the password of {new_dn}", retryable=_RACES)
            self._set_lock(conn, new_dn)

        self._as_admin(rotate)

    def lock(self, login_id: str) -> None:
        dn = self._dn(login_id)
        self._as_admin(lambda conn: self._set_lock(conn, dn))

    def unlock(self, login_id: str) -> None:
        dn = self._dn(login_id)

        def unlock(conn: Connection) -> None:
            conn.modify(dn, {"pwdAccountLockedTime": [(MODIFY_DELETE, [])]})
            self._check(conn, f"unlock {dn}", ok={RESULT_NO_SUCH_ATTRIBUTE})

        self._as_admin(unlock)

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
        return self._search_login_ids("(objectClass=account)")

    def unlocked_login_ids(self) -> list[str]:
        return self._search_login_ids("(&(objectClass=account)(!(pwdAccountLockedTime=*)))")

    def _search_login_ids(self, search_filter: str) -> list[str]:
        base_dn = self._settings.base_dn

        def list_them(conn: Connection) -> list[str]:
            login_ids = []
            cookie = None
            while True:
                conn.search(
                    base_dn,
                    search_filter,
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

        return self._as_admin(list_them)

    def delete(self, login_id: str) -> None:
        dn = self._dn(login_id)

        def delete(conn: Connection) -> None:
            conn.delete(dn)
            self._check(conn, f"delete {dn}", ok={RESULT_NO_SUCH_OBJECT})

        self._as_admin(delete)

    def _dn(self, login_id: str) -> str:
        return f"uid={escape_rdn(login_id)},{self._settings.base_dn}"

    def _set_lock(self, conn: Connection, dn: str) -> None:
        conn.modify(dn, {"pwdAccountLockedTime": [(MODIFY_REPLACE, [PERMANENTLY_LOCKED])]})
        self._check(conn, f"lock {dn}")

    def _as_admin(self, work: Callable[[Connection], _T]) -> _T:
        """Run `work` on this process's bound administrator connection to the server, made
        once and kept. A kept connection the server has dropped meanwhile is made again and
        the work done again (every operation here is idempotent); a new one that fails is the
        error."""
        key = self._connection_key()
        kept: dict = getattr(_kept, "connections", None) or {}
        _kept.connections = kept
        for _attempt in range(2):
            conn = kept.pop(key, None)
            reused = conn is not None and not conn.closed
            if not reused:
                conn = self._bound_admin_connection()
            try:
                result = work(conn)
            except (LDAPCommunicationError, LDAPResponseTimeoutError) as exc:
                _close(conn)
                if reused:
                    continue
                raise self._communication_error(exc) from None
            except LDAPException as exc:
                _close(conn)
                raise ConnectorError(
                    f"{self._settings.url}: {_kind(exc)}", retryable=False
                ) from None
            except ConnectorError:
                kept[key] = conn  # the server's answer: the connection is fine
                raise
            except Exception as exc:
                # ldap3 fails this way on an answer that is not LDAP (a wrong port, something
                # else listening): the target's failure all the same, retried and then alerted.
                _close(conn)  # in an unknown state: not kept
                raise self._communication_error(exc) from None
            except BaseException:
                _close(conn)
                raise
            kept[key] = conn
            return result
        raise ConnectorError(f"{self._settings.url}: cannot talk to the server", retryable=True)

    def _connection_key(self) -> tuple:
        settings = self._settings
        # A forked worker process must not share its parent's socket.
        return (os.getpid(), settings.url, settings.bind_dn, settings.bind_password,
                settings.timeout)  # fmt: skip

    def _bound_admin_connection(self) -> Connection:
        settings = self._settings
        conn = self._connection(settings.bind_dn, settings.bind_password)
        try:
            conn.bind()
            self._check(conn, f"bind as {settings.bind_dn}")
        except ConnectorError:
            _close(conn)
            raise
        except (LDAPCommunicationError, LDAPResponseTimeoutError) as exc:
            _close(conn)
            raise self._communication_error(exc) from None
        except LDAPException as exc:
            _close(conn)
            raise ConnectorError(f"{self._settings.url}: {_kind(exc)}", retryable=False) from None
        except Exception as exc:  # not an LDAP server's answer (see _as_admin)
            _close(conn)
            raise self._communication_error(exc) from None
        except BaseException:
            _close(conn)
            raise
        return conn

    def _communication_error(self, exc: Exception) -> ConnectorError:
        return ConnectorError(
            f"{self._settings.url}: cannot talk to the server ({_kind(exc)})", retryable=True
        )

    def _connection(self, user: str, password: str) -> Connection:
        server = self._server
        try:
            return Connection(
                server,
                user=user,
                password=password,
                receive_timeout=self._settings.timeout,
                raise_exceptions=False,
            )
        except LDAPException as exc:
            raise ConnectorError(f"{self._settings.url}: {_kind(exc)}", retryable=False) from None

    @contextmanager
    def _session(self, user: str, password: str) -> Iterator[Connection]:
        """A connection of its own (a user's bind), closed afterwards."""
        conn = self._connection(user, password)
        try:
            yield conn
        except (LDAPCommunicationError, LDAPResponseTimeoutError) as exc:
            raise self._communication_error(exc) from None
        except LDAPException as exc:
            raise ConnectorError(f"{self._settings.url}: {_kind(exc)}", retryable=False) from None
        except ConnectorError:
            raise
        except Exception as exc:  # not an LDAP server's answer (see _as_admin)
            raise self._communication_error(exc) from None
        finally:
            _close(conn)

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


def _close(conn: Connection) -> None:
    # A failed unbind must not hide the outcome of the work done before it.
    with suppress(LDAPException, OSError):
        conn.unbind()


def _rdn_uid(entry: dict) -> str:
    """The uid that names the entry (an account may carry several)."""
    uids = entry["attributes"]["uid"]
    rdn_value = parse_dn(entry["dn"])[0][1]
    return next((uid for uid in uids if escape_rdn(uid) == rdn_value), uids[0])


def _kind(exc: Exception) -> str:
    """The exception's class, and the socket error's class that ldap3 mixes into it."""
    os_errors = [
        cls.__name__
        for cls in type(exc).__mro__
        if issubclass(cls, OSError) and not issubclass(cls, LDAPException)
    ]
    return ", ".join([type(exc).__name__, *os_errors[:1]])


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def ldap_url_problem(url: str) -> str:
    """What is wrong with a directory address, as one of "scheme", "host", "port" and "form"
    (the caller words it); empty when it is `ldap://` or `ldaps://`, a host name or an IP
    address, an optional port from 1 to 65535, and nothing else (an RFC 4516 URL's base DN,
    scope or filter belong in their own fields)."""
    if not url or url != url.strip() or any(c.isspace() or ord(c) < 32 for c in url):
        return "form"
    try:
        parts = urlsplit(url)
    except ValueError:  # a broken [IPv6] address
        return "host"
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        return "port"
    if parts.scheme.lower() not in ("ldap", "ldaps"):
        return "scheme"
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        return "form"
    host = parts.hostname or ""
    if not host or not _valid_host(host):
        return "host"
    if port is not None and not 1 <= port <= 65535:
        return "port"
    if parts.netloc.endswith(":"):  # "ldap://host:" names no port
        return "port"
    return ""


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.removesuffix(".").split(".")
        return (
            len(host) <= 253
            and all(_HOST_LABEL.fullmatch(label) for label in labels)
            and not labels[-1].isdigit()  # 999.1.1.1 is no address and no name
        )
    return True
