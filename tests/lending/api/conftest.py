"""A declared disaster over the `hq` site, three terminals in its cabinet with an account on
each of two target systems (first rotation done), and an approved request of the contractor.
The world is built with the services; the tests then speak only to the API."""

import pytest
from rest_framework.test import APIClient

from core.roles import Role
from credentials.targets import target_system_create
from lending import services
from tests.factories import make_card, make_terminal, make_user
from tests.lending.api.helpers import submit, with_accounts


@pytest.fixture
def client_for():
    """`client_for(user)`: a new API client signed in as that user (None: anonymous). Answers
    come in English, as the tests read them; pages and API default to Japanese."""

    def sign_in(user) -> APIClient:
        client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
        if user is not None:
            client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def targets(db):
    return [
        target_system_create(
            actor=None, code="callcenter", name="コールセンターシステム", connector="local"
        ),
        target_system_create(
            actor=None, code="nol", name="ネットワークオンラインシステム", connector="local"
        ),
    ]


@pytest.fixture
def terminals(cabinet, targets, django_capture_on_commit_callbacks):
    return [
        with_accounts(
            make_terminal(location=cabinet, asset_tag=f"NW-0000{n}"),
            targets,
            django_capture_on_commit_callbacks,
        )
        for n in (1, 2, 3)
    ]


@pytest.fixture
def card(cabinet, terminals):
    """An entry card kept with the first terminal: it goes out with it."""
    return make_card(location=cabinet, terminal=terminals[0], card_number="IC-000001")


@pytest.fixture
def approver(operator):
    """A second facilities user: the one who approves, so `facilities` may hand out."""
    return make_user("aki", Role.FACILITIES, operator)


@pytest.fixture
def declaration(site, security):
    return services.declaration_declare(actor=security, title="台風10号", sites=[site])


@pytest.fixture
def approved(declaration, contractor, approver, django_capture_on_commit_callbacks):
    """The contractor's request for two terminals, approved by `approver`."""
    with django_capture_on_commit_callbacks(execute=True):
        request = submit(contractor, declaration)
        request = services.access_request_approve(request=request, actor=approver)
    return request
