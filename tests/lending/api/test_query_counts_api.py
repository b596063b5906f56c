"""The loan and request lists read a page with the same number of queries however many loans
there are."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from lending import services
from tests.lending.api.helpers import checkout, submit


def queries_for(client, path) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured.captured_queries)


def test_listing_three_loans_costs_what_listing_one_does(
    client_for, auditor, facilities, approver, contractor, declaration, terminals, card
):
    client = client_for(auditor)
    request = services.access_request_approve(
        request=submit(contractor, declaration, quantity=3), actor=approver
    )
    checkout(request, terminals[0], facilities)
    one = {
        path: queries_for(client, path) for path in ("/api/v1/loans/", "/api/v1/access-requests/")
    }

    for terminal in terminals[1:]:
        checkout(request, terminal, facilities)
    submit(contractor, declaration)

    for path, queries in one.items():
        assert queries_for(client, path) == queries, path
