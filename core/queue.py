"""Sending work to the Celery workers by the task's name. A service asks for work this way, never
by importing its app's tasks module, which imports the services back (a cycle)."""

import logging
import threading
from datetime import timedelta

from celery import current_app
from django.db import transaction
from django.utils import timezone

from core.models import OutboxTask

logger = logging.getLogger(__name__)
# Celery marks its default modules imported before it has imported them: a second thread asking
# at that moment found no task (NotRegistered, a 500 after the commit, under bench/lending.py).
_importing = threading.Lock()


def enqueue(task_name: str, *args: object) -> bool:
    """Send one task; answer False, with a warning in the log, when the broker cannot be reached.
    Call it after the commit: whatever asked for the work is a database row, and a sweeper sends
    again what could not be sent, so a request that committed never fails here."""
    app = current_app
    if task_name not in app.tasks:
        # The tasks modules register themselves when imported; a web process may not have yet.
        with _importing:
            if task_name not in app.tasks:
                app.loader.import_default_modules()
    try:
        app.tasks[task_name].delay(*args)  # run here in eager mode (tests), as a message otherwise
    except Exception:  # any broker or connection failure: the database row is the record
        logger.warning("task %s could not be sent to a worker", task_name, exc_info=True)
        return False
    return True


def enqueue_on_commit(task_name: str, *args: object) -> None:
    """Send a task once the current transaction commits, for work that has no row of its own to
    be found again by (an email about a request): an outbox row is written in the transaction
    and deleted once the broker took the task; `outbox_resend` sends what is left over."""
    row = OutboxTask.objects.create(task_name=task_name, args=list(args))

    def send() -> None:
        if enqueue(task_name, *args):
            OutboxTask.objects.filter(pk=row.pk).delete()

    # Robust: a database lost between the commit and the delete leaves the row for the sweeper.
    transaction.on_commit(send, robust=True)


def outbox_resend(*, older_than_seconds: int = 60) -> int:
    """Send again the outbox's tasks whose first sending did not happen (run by the scheduler);
    answers how many the broker took."""
    sent = 0
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    for row in OutboxTask.objects.filter(created_at__lt=cutoff).order_by("pk")[:500]:
        OutboxTask.objects.filter(pk=row.pk).update(attempts=row.attempts + 1)
        if not enqueue(row.task_name, *row.args):
            break  # the broker is still down: the next run tries again
        OutboxTask.objects.filter(pk=row.pk).delete()
        sent += 1
    return sent
