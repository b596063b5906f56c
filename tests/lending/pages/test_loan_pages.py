"""Loans for staff with due and overdue marked, the dashboard's overdue list, and security's
revoke and declare-lost (each needs a reason)."""

import datetime

from django.urls import reverse
from django.utils import timezone

from credentials.models import Account, Rotation
from lending.models import Loan, LoanStatus
from terminals.models import Terminal
from tests.support.db import nothing_written


def _make_overdue(loan):
    Loan.objects.filter(pk=loan.pk).update(due_at=timezone.now() - datetime.timedelta(hours=2))


def test_the_loan_list_marks_overdue_and_due_soon_loans(as_user, facilities, loan):
    client = as_user(facilities)
    page = client.get(reverse("lending:loans")).content.decode()
    assert "NW-00001" in page
    assert "Overdue" not in page

    Loan.objects.filter(pk=loan.pk).update(due_at=timezone.now() + datetime.timedelta(hours=1))
    assert "Due soon" in client.get(reverse("lending:loans")).content.decode()

    _make_overdue(loan)
    page = client.get(reverse("lending:loans")).content.decode()
    assert '<span class="badge overdue">Overdue</span>' in page
    assert 'class="is-overdue"' in page


def test_the_dashboard_lists_overdue_loans_for_staff(as_user, security, loan):
    client = as_user(security)
    assert "No loan is overdue." in client.get(reverse("dashboard")).content.decode()
    _make_overdue(loan)
    page = client.get(reverse("dashboard")).content.decode()
    assert "Overdue loans" in page
    assert reverse("lending:loan", args=[loan.pk]) in page
    assert "関東電工" in page


def test_the_dashboard_shows_the_active_declarations(as_user, facilities, declaration):
    page = as_user(facilities).get(reverse("dashboard")).content.decode()
    assert reverse("lending:declaration", args=[declaration.pk]) in page


def test_a_contractor_dashboard_shows_declarations_requests_and_loans(as_user, contractor, loan):
    page = as_user(contractor).get(reverse("dashboard")).content.decode()
    assert "台風10号" in page
    assert reverse("lending:request-create") in page
    assert reverse("lending:request", args=[loan.request_id]) in page
    assert reverse("lending:loan", args=[loan.pk]) in page
    assert "tile-count" not in page


def test_security_sees_revoke_and_lost_but_facilities_do_not(as_user, security, facilities, loan):
    url = reverse("lending:loan", args=[loan.pk])
    revoke = reverse("lending:loan-revoke", args=[loan.pk])
    assert revoke in as_user(security).get(url).content.decode()
    assert revoke not in as_user(facilities).get(url).content.decode()


def test_a_revocation_needs_a_reason_then_locks_and_rotates(
    as_user, security, loan, django_capture_on_commit_callbacks
):
    client = as_user(security)
    url = reverse("lending:loan-revoke", args=[loan.pk])
    with nothing_written(loan, Account):
        refused = client.post(url, {"revoke-reason": ""})
    assert refused.status_code == 400
    assert "A reason is required." in refused.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"revoke-reason": "端末盗難の届出"}, follow=True)
    loan.refresh_from_db()
    assert loan.revoked_at is not None
    assert loan.status == LoanStatus.OPEN  # open until it is back or declared lost
    assert Rotation.objects.filter(reason="revoked", account__terminal=loan.terminal).exists()
    page = response.content.decode()
    assert "This loan was revoked." in page
    assert "端末盗難の届出" in page


def test_security_declares_a_loan_lost(as_user, security, loan):
    response = as_user(security).post(
        reverse("lending:loan-lost", args=[loan.pk]), {"lost-reason": "現場で紛失", "confirm": "1"}
    )
    assert response.status_code == 302
    loan.refresh_from_db()
    assert loan.status == LoanStatus.LOST
    assert loan.terminal.status == Terminal.Status.LOST
