"""Sending work to the Celery workers by the task's name. A service asks for work this way, never
by importing its app's tasks module, which imports the services back (a cycle)."""

import logging
import threading

from celery import current_app

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
