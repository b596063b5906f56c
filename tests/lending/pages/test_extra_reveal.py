"""After the one reveal (issue 9, item 7): the contractor's loan page stops offering the reveal
and says where it stands; security approves one more look on the same page, and the contractor
can look once more."""

from django.urls import reverse

from core.models import AuditEvent
from lending import services
from tests.support.db import nothing_written


def test_security_approves_one_more_look_on_the_loan_page(as_user, contractor, security, loan):
    services.loan_reveal(loan=loan, actor=contractor)
    show = reverse("lending:loan-credentials", args=[loan.pk])
    page = reverse("lending:loan", args=[loan.pk])

    seen = as_user(contractor).get(page).content.decode()
    assert show not in seen
    assert "Another look needs a security officer's approval." in seen

    officer = as_user(security)
    assert "Allow one more look" in officer.get(page).content.decode()
    approve = reverse("lending:loan-approve-reveal", args=[loan.pk])
    with nothing_written(loan):
        refused = officer.post(approve, {"approve-reason": ""})
    assert refused.status_code == 400
    assert officer.post(approve, {"approve-reason": "画面を閉じてしまった"}).status_code == 302
    assert AuditEvent.objects.filter(action="secret.extra_reveal_approved").count() == 1

    again = as_user(contractor).get(page).content.decode()
    assert show in again
    assert "A security officer allowed one more look." in again
    assert services.loan_reveal(loan=loan, actor=contractor)  # the one more look


def test_only_security_may_approve_another_look(as_user, contractor, facilities, loan):
    services.loan_reveal(loan=loan, actor=contractor)
    approve = reverse("lending:loan-approve-reveal", args=[loan.pk])
    for user in (contractor, facilities):
        with nothing_written(loan):
            assert as_user(user).post(approve, {"approve-reason": "x"}).status_code == 403
