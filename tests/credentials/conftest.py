"""A real OpenLDAP server for the whole run, and a fresh branch of it for each test."""

from collections.abc import Iterator

import pytest

from credentials.connectors.ldap import LdapConnector
from credentials.targets import target_system_create
from tests.factories import make_terminal
from tests.support.slapd import Slapd


@pytest.fixture(scope="session")
def slapd() -> Iterator[Slapd]:
    # Failing, not skipping: the test command installs slapd, so its absence is a broken setup.
    missing = Slapd.missing()
    if missing:
        pytest.fail(
            f"OpenLDAP's slapd is needed for the LDAP tests but {', '.join(missing)} is missing: "
            "apt-get install slapd",
            pytrace=False,
        )
    with Slapd() as server:
        yield server


@pytest.fixture
def branch(slapd) -> str:
    return slapd.new_branch()


@pytest.fixture
def connector(slapd, branch) -> LdapConnector:
    return LdapConnector(slapd.settings(base_dn=branch))


@pytest.fixture
def local_target(db):
    return target_system_create(
        actor=None, code="callcenter", name="コールセンターシステム", connector="local"
    )


@pytest.fixture
def terminal(cabinet):
    return make_terminal(location=cabinet)
