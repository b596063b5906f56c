"""The lending API tests' world (a declaration, terminals with rotated accounts, an approved
request) for the operations tests that need loans and secrets."""

from tests.lending.api.conftest import (  # noqa: F401 (fixtures)
    approved,
    approver,
    card,
    client_for,
    declaration,
    targets,
    terminals,
)
