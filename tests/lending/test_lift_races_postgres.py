"""A request submitted while its declaration is being lifted, on PostgreSQL (SQLite writes one
transaction at a time): the submit waits for the lift, then is refused; never a request left
waiting under a lifted declaration."""

import threading

import pytest

from core.errors import InvalidInput
from lending import services
from lending.models import AccessRequest, RequestStatus
from tests.compliance.test_scan_races_postgres import Background, held_open, wait_until_blocked
from tests.lending.test_services import submit

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql_only]


def test_a_request_submitted_during_the_lift_waits_for_it_and_is_refused(
    site, security, contractor
):
    declaration = services.declaration_declare(actor=security, title="台風10号", sites=[site])
    lifted, release = threading.Event(), threading.Event()
    lift = held_open(
        lambda: services.declaration_lift(declaration=declaration, actor=security),
        lifted,
        release,
    )
    submitting = Background(lambda: submit(contractor, declaration, quantity=1))
    submitting.start()

    wait_until_blocked()
    release.set()
    lift.outcome()
    refused = submitting.outcome()

    assert isinstance(refused, InvalidInput), refused
    assert "declaration" in refused.field_errors
    assert not AccessRequest.objects.filter(status=RequestStatus.SUBMITTED).exists()
