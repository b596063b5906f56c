"""A contractor reaches only their own organization's requests and loans: another contractor's
pages answer 404 and their lists leave them out."""

import pytest
from django.urls import reverse

from credentials.models import SecretVersion
from tests.support.db import nothing_written


@pytest.mark.parametrize(
    ("name", "of"), [("request", "request"), ("loan", "loan"), ("loan-credentials", "loan")]
)
def test_another_contractors_pages_are_not_found(as_user, outsider, loan, name, of):
    pk = loan.request_id if of == "request" else loan.pk
    response = as_user(outsider).get(reverse(f"lending:{name}", args=[pk]))
    assert response.status_code == 404
    assert "NW-00001" not in response.content.decode()


def test_another_contractor_cannot_reveal_or_cancel(as_user, outsider, password, loan):
    client = as_user(outsider)
    with nothing_written(loan, loan.request, SecretVersion):
        reveal = client.post(
            reverse("lending:loan-credentials", args=[loan.pk]), {"password": password}
        )
        cancel = client.post(reverse("lending:request-cancel", args=[loan.request_id]))
    assert (reveal.status_code, cancel.status_code) == (404, 404)


def test_another_contractors_lists_and_dashboard_leave_them_out(as_user, outsider, loan):
    client = as_user(outsider)
    for url in (
        reverse("lending:requests"),
        reverse("lending:loans") + "?status=all",
        reverse("lending:declaration", args=[loan.request.declaration_id]),
        reverse("dashboard"),
    ):
        page = client.get(url).content.decode()
        assert "NW-00001" not in page, url
        assert "千葉県館山市" not in page, url


def test_the_borrowing_contractor_sees_their_own(as_user, contractor, loan):
    client = as_user(contractor)
    assert "NW-00001" in client.get(reverse("lending:loans")).content.decode()
    assert "千葉県館山市" in client.get(reverse("lending:requests")).content.decode()
    page = client.get(reverse("lending:loan", args=[loan.pk])).content.decode()
    assert reverse("lending:loan-credentials", args=[loan.pk]) in page
