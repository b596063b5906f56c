"""Emails about requests are sent at least once even when the broker is down at the commit: the
outbox row written with the request is sent again by the sweeper (core.queue)."""

from datetime import timedelta

import pytest
import time_machine
from celery.app.task import Task
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from core.models import OutboxTask
from core.queue import outbox_resend
from tests.lending import test_services
from tests.lending.test_services import submit

# The lending fixtures: two terminals in a declared area, a contractor and an approver.
target, world = test_services.target, test_services.world


@pytest.fixture
def broker(monkeypatch):
    """Every send to the broker fails while `broker["down"]`, as with Redis stopped."""
    state = {"down": True}
    real_delay = Task.delay

    def delay(self, *args, **kwargs):
        if state["down"]:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        return real_delay(self, *args, **kwargs)

    monkeypatch.setattr(Task, "delay", delay)
    return state


def emails_about(request):
    return [m for m in mail.outbox if f"#{request.pk}" in m.subject + m.body]


def test_a_request_email_is_sent_once_the_broker_is_back(
    world, contractor, broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request = submit(contractor, world["declaration"])  # committed: no error shown
    assert emails_about(request) == []
    assert OutboxTask.objects.filter(args=[request.pk, "submitted"]).exists()

    assert outbox_resend() == 0  # too young: its own sending may still be under way
    broker["down"] = False
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert outbox_resend() == 1
    assert len(emails_about(request)) == 1
    assert not OutboxTask.objects.exists()


def test_recover_sends_the_outbox_at_once(
    world, contractor, broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request = submit(contractor, world["declaration"])
    broker["down"] = False
    call_command("recover")
    assert not OutboxTask.objects.exists()
    assert len(emails_about(request)) == 1


def test_nothing_is_left_in_the_outbox_when_the_broker_is_up(
    world, contractor, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request = submit(contractor, world["declaration"])
    assert not OutboxTask.objects.exists()
    assert len(emails_about(request)) == 1


def test_a_broker_still_down_keeps_the_row_for_the_next_run(
    world, contractor, broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        submit(contractor, world["declaration"])
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert outbox_resend() == 0
    assert OutboxTask.objects.get().attempts == 1
