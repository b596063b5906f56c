"""The scheduler's rules in one process: a beat that does not hold the lease sends nothing and
counts the runs that fall due meanwhile as done by the holder, so that taking over never sends
a run again (a daily stock-take opened twice)."""

import datetime

import pytest
import time_machine
from celery import current_app
from celery.beat import ScheduleEntry
from django.utils import timezone

from core.leases import lease_release, lease_take
from core.scheduler import LEASE_NAME, LeasedScheduler

pytestmark = pytest.mark.django_db


@pytest.fixture
def scheduler(tmp_path):
    beat = LeasedScheduler(app=current_app, schedule_filename=str(tmp_path / "schedule"))
    beat.schedule.clear()  # the project's entries: this test has its own
    beat.sent = []
    beat.apply_async = lambda entry, **_: beat.sent.append(entry.name)
    # Daily, last run two days ago: due now.
    beat.schedule["open-due-stocktakes"] = ScheduleEntry(
        name="open-due-stocktakes",
        task="compliance.tasks.open_due_stocktakes",
        schedule=datetime.timedelta(days=1),
        last_run_at=timezone.now() - datetime.timedelta(days=2),
        app=current_app,
    )
    beat.closed = False
    yield beat
    if not beat.closed:
        beat.close()


def test_the_holder_sends_a_due_run_once(scheduler):
    scheduler.tick()
    scheduler.tick()

    assert scheduler.sent == ["open-due-stocktakes"]


def test_a_standby_sends_nothing_and_does_not_repeat_the_holders_run_when_it_takes_over(
    scheduler,
):
    assert lease_take(LEASE_NAME, "beat:other", 60)

    scheduler.tick()
    assert scheduler.sent == []
    assert scheduler.holds_lease is False

    lease_release(LEASE_NAME, "beat:other")  # the holder stops: this one takes over
    scheduler.tick()
    assert scheduler.holds_lease is True
    assert scheduler.sent == []  # the holder sent today's run already

    with time_machine.travel(timezone.now() + datetime.timedelta(days=1, minutes=1)):
        scheduler.tick()
    assert scheduler.sent == ["open-due-stocktakes"]


def test_its_tick_renews_the_lease_well_before_it_expires(scheduler, settings):
    settings.SCHEDULER_LEASE_SECONDS = 30

    assert scheduler.tick() <= 10
    assert not lease_take(LEASE_NAME, "beat:other", 60)


def test_a_beat_that_stops_releases_the_lease_for_the_standby(scheduler):
    scheduler.tick()
    assert not lease_take(LEASE_NAME, "beat:standby", 60)

    scheduler.close()
    scheduler.closed = True

    assert lease_take(LEASE_NAME, "beat:standby", 60)
