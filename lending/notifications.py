"""Emails about requests and loans (see core.emails), sent by workers after the commit."""

from collections import defaultdict

from django.core.mail import send_mail

from core.emails import bilingual
from core.models import User
from core.queue import enqueue_on_commit
from core.selectors import users_holding
from lending.models import AccessRequest


def _staff() -> list[User]:
    """Those who decide requests and receive returns."""
    return list(users_holding("lending.change_accessrequest").exclude(email=""))


def _contractor_users(organization_id: int) -> list[User]:
    return list(
        User.objects.filter(organization_id=organization_id, is_active=True).exclude(email="")
    )


def request_event(*, request_id: int, event: str) -> None:
    """Called in the transaction that changed the request: sent once it commits (core.queue)."""
    enqueue_on_commit("lending.tasks.send_request_notification", request_id, event)


def send_request_email(*, request_id: int, event: str) -> int:
    request = AccessRequest.objects.select_related("declaration", "contractor", "submitted_by").get(
        pk=request_id
    )
    recipients = {user.email for user in _contractor_users(request.contractor_id) + _staff()}
    if not recipients:
        return 0
    subject, body = bilingual("request_event", {"request": request, "event": event})
    send_mail(subject, body, None, sorted(recipients))
    return len(recipients)


def loan_summary(*, loans, kind: str) -> int:
    """One email per recipient listing the loans they should act on (kind: overdue, due_soon)."""
    by_recipient: dict[str, list] = defaultdict(list)
    staff = _staff()
    for loan in loans:
        for user in _contractor_users(loan.request.contractor_id) + staff:
            by_recipient[user.email].append(loan)
    for email, their_loans in by_recipient.items():
        subject, body = bilingual("loan_summary", {"loans": their_loans, "kind": kind})
        send_mail(subject, body, None, [email])
    return len(by_recipient)
