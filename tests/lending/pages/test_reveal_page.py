"""The borrower's one look at the loan's credentials: behind their password, never cached,
every account at once, and refused the second time with a pointer to security."""

from django.urls import reverse

from core.models import AuditEvent
from credentials.models import SecretVersion
from credentials.secrets import secret_plaintext
from lending import services
from tests.support.db import nothing_written


def test_the_page_asks_for_the_password_and_shows_nothing_before(as_user, contractor, loan):
    response = as_user(contractor).get(reverse("lending:loan-credentials", args=[loan.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert 'type="password"' in page
    assert "コールセンターシステム" in page
    account = loan.terminal.accounts.get()
    assert account.login_id not in page
    assert secret_plaintext(account.current_version) not in page


def test_a_wrong_password_reveals_nothing(as_user, contractor, loan):
    with nothing_written(loan, SecretVersion):
        response = as_user(contractor).post(
            reverse("lending:loan-credentials", args=[loan.pk]), {"password": "not-my-password"}
        )
    assert "That is not your password." in response.content.decode()


def test_the_password_reveals_every_account_once_and_the_second_time_is_refused(
    as_user, contractor, password, loan
):
    account = loan.terminal.accounts.get()
    secret = secret_plaintext(account.current_version)
    client = as_user(contractor)
    url = reverse("lending:loan-credentials", args=[loan.pk])

    first = client.post(url, {"password": password})
    page = first.content.decode()
    assert "no-store" in first["Cache-Control"]
    assert f'<code id="password-1" class="secret-value password">{secret}</code>' in page
    assert account.login_id in page
    assert "These are shown only this once." in page
    assert 'data-copy="password-1"' in page
    assert "/static/js/copy.js" in page
    assert "<script>" not in page  # no inline script: the copy buttons work under a strict CSP
    assert AuditEvent.objects.filter(action="secret.revealed", actor=contractor).count() == 1

    with nothing_written(loan, SecretVersion):
        second = client.post(url, {"password": password})
    page = second.content.decode()
    assert "no-store" in second["Cache-Control"]
    assert secret not in page
    assert "This password was already shown once." in page
    assert "Ask a security officer" in page


def test_a_revoked_loan_shows_no_credentials(as_user, contractor, password, security, loan):
    services.loan_revoke(loan=loan, actor=security, reason="端末盗難の届出")
    with nothing_written(loan, SecretVersion):
        page = (
            as_user(contractor)
            .post(reverse("lending:loan-credentials", args=[loan.pk]), {"password": password})
            .content.decode()
        )
    assert "This loan is not open: its credentials cannot be shown." in page
