"""A throwaway OpenLDAP server (Debian's slapd, with the ppolicy overlay) for the LDAP
connector's tests: its own folder, configuration and port on 127.0.0.1, gone after the run."""

import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ldap3 import NONE, Connection, Server
from ldap3.core.exceptions import LDAPException

from credentials.connectors import LdapSettings
from tests.support.polling import free_port, wait_for

SLAPD = Path("/usr/sbin/slapd")
SLAPPASSWD = Path("/usr/sbin/slappasswd")
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")

SUFFIX = "dc=nwterm,dc=test"
PEOPLE_DN = f"ou=people,{SUFFIX}"
ADMIN_DN = f"cn=admin,{SUFFIX}"
POLICY_DN = f"cn=default,ou=policies,{SUFFIX}"
START_TIMEOUT = 15

# OpenLDAP 2.5 builds the ppolicy schema into the overlay, so no ppolicy.schema is included.
# Users may only present their password to bind; the rootdn passes every ACL.
SLAPD_CONF = """\
include {schema}/core.schema
include {schema}/cosine.schema
modulepath {modules}
moduleload back_mdb
moduleload ppolicy
pidfile {folder}/slapd.pid
argsfile {folder}/slapd.args
password-hash {{SSHA}}

database mdb
maxsize 16777216
suffix "{suffix}"
rootdn "{admin}"
rootpw {rootpw}
directory {folder}/data
access to attrs=userPassword
    by anonymous auth
    by * none
access to *
    by * none
overlay ppolicy
ppolicy_default "{policy}"
ppolicy_use_lockout
"""

# A policy like a real target's: five wrong passwords lock an account for five minutes.
BASE_ENTRIES = [
    (SUFFIX, ["dcObject", "organization"], {"dc": "nwterm", "o": "nwterm"}),
    (PEOPLE_DN, ["organizationalUnit"], {"ou": "people"}),
    (f"ou=policies,{SUFFIX}", ["organizationalUnit"], {"ou": "policies"}),
    (
        POLICY_DN,
        ["organizationalRole", "pwdPolicy"],
        {
            "cn": "default",
            "pwdAttribute": "userPassword",
            "pwdLockout": "TRUE",
            "pwdMaxFailure": "5",
            "pwdLockoutDuration": "300",
        },
    ),
]


class Slapd:
    base_dn = PEOPLE_DN
    bind_dn = ADMIN_DN

    def __init__(self, *, stats_log: bool = False) -> None:
        # stats_log: slapd writes its stats lines (connections, binds, results: `-d stats`,
        # what `loglevel stats` logs) to `log_path`, for the access-log tests to ingest.
        self.stats_log = stats_log
        self.bind_password = secrets.token_urlsafe(16)
        self.folder: Path | None = None
        self.process: subprocess.Popen | None = None
        self.url = ""

    @staticmethod
    def missing() -> list[str]:
        """The files this class needs that are not on the machine."""
        needed = [SLAPD, SLAPPASSWD, SCHEMA_DIR / "cosine.schema", MODULE_DIR / "ppolicy.la"]
        return [str(path) for path in needed if not path.exists()]

    def __enter__(self) -> "Slapd":
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _start(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="nwterm-slapd-"))
        (self.folder / "data").mkdir()
        rootpw = subprocess.run(
            [SLAPPASSWD, "-h", "{SSHA}", "-s", self.bind_password],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        conf = self.folder / "slapd.conf"
        conf.write_text(
            SLAPD_CONF.format(
                schema=SCHEMA_DIR,
                modules=MODULE_DIR,
                folder=self.folder,
                suffix=SUFFIX,
                admin=ADMIN_DN,
                rootpw=rootpw,
                policy=POLICY_DN,
            )
        )
        self.url = f"ldap://127.0.0.1:{free_port()}"
        log = (self.folder / "slapd.log").open("wb")
        # "-d none" keeps slapd in the foreground (our child, stopped by us) and logs only errors.
        self.process = subprocess.Popen(
            [SLAPD, "-d", "stats" if self.stats_log else "none", "-h", self.url, "-f", conf],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self._wait_until_it_answers()
        with self.admin() as conn:
            for dn, object_classes, attributes in BASE_ENTRIES:
                conn.add(dn, object_classes, attributes)

    def _wait_until_it_answers(self) -> None:
        def answers() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"slapd exited with {self.process.returncode}: {self._log()}")
            try:
                with self.admin():
                    return True
            except LDAPException:  # not listening yet
                return False

        wait_for(answers, timeout=START_TIMEOUT, what="slapd to answer", interval=0.1)

    def _log(self) -> str:
        return self.log_path.read_text(errors="replace").strip()

    @property
    def log_path(self) -> Path:
        """Where slapd writes: errors, and with stats_log every connection, bind and result."""
        assert self.folder is not None, "slapd is not running"
        return self.folder / "slapd.log"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    @contextmanager
    def admin(self) -> Iterator[Connection]:
        """A connection bound as the rootdn that raises on any failed operation."""
        conn = Connection(
            Server(self.url, get_info=NONE, connect_timeout=2),
            user=ADMIN_DN,
            password=self.bind_password,
            receive_timeout=5,
            raise_exceptions=True,
            auto_bind=True,
        )
        try:
            yield conn
        finally:
            conn.unbind()

    def new_branch(self) -> str:
        """A fresh, empty organizational unit under ou=people, so that a test sees only its
        own entries although the server lives for the whole run."""
        name = f"t{secrets.token_hex(6)}"
        dn = f"ou={name},{PEOPLE_DN}"
        with self.admin() as conn:
            conn.add(dn, ["organizationalUnit"], {"ou": name})
        return dn

    def settings(self, **changes) -> LdapSettings:
        values = {
            "url": self.url,
            "base_dn": self.base_dn,
            "bind_dn": self.bind_dn,
            "bind_password": self.bind_password,
            "timeout": 5,
        }
        return LdapSettings(**(values | changes))
