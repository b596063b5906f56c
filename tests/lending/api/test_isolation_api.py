"""A contractor reaches only their own organization's requests and loans: another
contractor's answer 404, as if they did not exist, and nothing is written."""

import pytest

from core.models import AuditEvent
from credentials.models import SecretVersion
from tests.lending.api.helpers import checkout
from tests.support.db import nothing_written


@pytest.fixture
def loan(approved, terminals, facilities):
    return checkout(approved, terminals[0], facilities)


def test_the_other_contractors_lists_are_empty(client_for, outsider, loan):
    client = client_for(outsider)

    assert client.get("/api/v1/access-requests/").json()["results"] == []
    assert client.get("/api/v1/loans/").json()["results"] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/access-requests/{request}/"),
        ("post", "/api/v1/access-requests/{request}/cancel/"),
        ("get", "/api/v1/loans/{loan}/"),
        ("post", "/api/v1/loans/{loan}/reveal/"),
    ],
)
def test_another_contractors_request_and_loan_do_not_exist_for_them(
    client_for, outsider, loan, method, path
):
    events = AuditEvent.objects.count()

    response = getattr(client_for(outsider), method)(
        path.format(request=loan.request_id, loan=loan.pk)
    )

    assert response.status_code == 404
    assert "password" not in response.json()
    assert AuditEvent.objects.count() == events
    assert not SecretVersion.objects.filter(revealed_at__isnull=False).exists()
    loan.request.refresh_from_db()
    assert loan.request.status == "approved"


def test_the_borrower_sees_their_own_request_and_loan(client_for, contractor, loan):
    client = client_for(contractor)

    assert [r["id"] for r in client.get("/api/v1/access-requests/").json()["results"]] == [
        loan.request_id
    ]
    assert [r["id"] for r in client.get("/api/v1/loans/").json()["results"]] == [loan.pk]


def test_staff_may_read_a_loan_but_never_reveal_it(client_for, facilities, security, auditor, loan):
    for user in (facilities, security, auditor):
        client = client_for(user)
        assert client.get(f"/api/v1/loans/{loan.pk}/").status_code == 200
        with nothing_written(loan, SecretVersion):
            assert client.post(f"/api/v1/loans/{loan.pk}/reveal/").status_code == 403
    assert not SecretVersion.objects.filter(revealed_at__isnull=False).exists()
