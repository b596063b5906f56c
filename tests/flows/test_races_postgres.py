"""Races on PostgreSQL: select_for_update and advisory locks do nothing on SQLite, where the
IMMEDIATE transaction serialises writers instead."""

import threading

import pytest
from django.db import connections

from core.audit import record_event, verify_chain
from core.errors import TransitionNotAllowed
from core.models import AuditEvent
from terminals import services
from terminals.models import Terminal
from tests.factories import make_terminal

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql_only]


def run_together(*targets):
    barrier = threading.Barrier(len(targets))
    results: list = [None] * len(targets)

    def runner(i, target):
        try:
            barrier.wait()
            results[i] = target()
        except Exception as exc:  # the loser's error is the result under test
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_concurrent_appenders_keep_one_unbroken_chain():
    def append_many():
        for i in range(25):
            record_event(actor=None, action="race.append", object_type="t", object_id=str(i))

    run_together(append_many, append_many, append_many)
    assert AuditEvent.objects.count() == 75
    assert verify_chain() == (75, None)


def test_of_two_simultaneous_retirements_exactly_one_wins(site):
    terminal = make_terminal(location=site)
    events = AuditEvent.objects.count()

    def retire():
        return services.terminal_retire(terminal=terminal, actor=None, reason="race")

    results = run_together(retire, retire)
    winners = [r for r in results if isinstance(r, Terminal)]
    losers = [r for r in results if isinstance(r, TransitionNotAllowed)]
    assert (len(winners), len(losers)) == (1, 1)
    assert terminal.movements.count() == 2
    assert AuditEvent.objects.count() == events + 1
