"""Analyses beside each other and beside an ingestion still writing, on PostgreSQL (where ids
come from a sequence and transactions commit in any order; on SQLite one writes at a time)."""

import pytest

from compliance.access_log_rules import access_log_analyse
from compliance.models import AccessLogAnalysis, Discrepancy
from tests.compliance.access_log_rules.conftest import MINUTE, T0
from tests.compliance.test_scan_races_postgres import Background, held_open, wait_until_blocked

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql_only]


def test_two_analyses_at_once_judge_each_sign_in_once(target, sign_in):
    events = [sign_in(T0 + i * MINUTE, f"stranger{i}") for i in range(40)]
    runs = [Background(access_log_analyse) for _ in range(2)]
    for run in runs:
        run.start()
    results = [run.outcome() for run in runs]

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(r.events for r in results) == [0, len(events)]
    assert Discrepancy.objects.count() == len(events)
    assert (
        AccessLogAnalysis.objects.order_by("-last_event_id").first().last_event_id == events[-1].pk
    )


def test_an_analysis_waits_for_an_ingestion_holding_lower_ids(target, sign_in):
    import threading

    done, release = threading.Event(), threading.Event()
    # An ingestion that took its id first and has not committed yet...
    ingesting = held_open(lambda: sign_in(T0, "early-but-slow"), done, release)
    # ...while a later one already committed a higher id.
    sign_in(T0 + MINUTE, "later-but-quick")

    analysis = Background(access_log_analyse)
    analysis.start()
    wait_until_blocked()
    release.set()
    ingesting.outcome()
    result = analysis.outcome()

    # Judged together: the lower id was not skipped by a watermark past it.
    assert result.events == 2
    assert Discrepancy.objects.count() == 2
