"""Two counters scan the same terminal at the same moment for two approved requests: exactly
one check-out wins. Needs PostgreSQL's row locks (select_for_update does nothing on SQLite)."""

import threading

import pytest
from django.db import connections

from core.roles import Role
from lending import services
from lending.models import Loan, LoanStatus
from terminals.models import Movement, Terminal
from tests.factories import make_user
from tests.lending.api.helpers import checkout_body, submit

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql_only]


def post_together(*calls):
    """Run each (client, body) check-out in its own thread, released at the same instant."""
    barrier = threading.Barrier(len(calls))
    answers: list = [None] * len(calls)

    def run(i, client, body):
        try:
            barrier.wait()
            answers[i] = client.post("/api/v1/loans/", body, format="json")
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=run, args=(i, client, body))
        for i, (client, body) in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def test_of_two_simultaneous_check_outs_of_one_terminal_exactly_one_wins(
    client_for, facilities, approver, operator, contractor, declaration, terminals
):
    requests = [
        services.access_request_approve(
            request=submit(contractor, declaration, quantity=1), actor=approver
        )
        for _ in range(2)
    ]
    second_counter = make_user("fumi", Role.FACILITIES, operator)
    terminal = terminals[0]

    answers = post_together(
        (client_for(facilities), checkout_body(requests[0], terminal)),
        (client_for(second_counter), checkout_body(requests[1], terminal)),
    )

    assert sorted(answer.status_code for answer in answers) == [201, 409]
    loser = next(answer for answer in answers if answer.status_code == 409)
    assert "NW-00001" in " ".join(loser.json()["reasons"])
    assert Loan.objects.exclude(status=LoanStatus.ABANDONED).count() == 1
    assert Loan.objects.get(status=LoanStatus.OPEN).terminal == terminal
    terminal.refresh_from_db()
    assert terminal.status == Terminal.Status.LENT
    assert Movement.objects.filter(terminal=terminal, to_status=Terminal.Status.LENT).count() == 1
