"""Journeys through the services and the API, from one end of a capability to the other. They
reuse the lending API tests' world: targets with rotated accounts, terminals, a card, an approver
and a declaration."""

from tests.lending.api.conftest import (  # noqa: F401 (fixtures)
    approved,
    approver,
    card,
    client_for,
    declaration,
    targets,
    terminals,
)
