"""The project's Celery app (config.celery) with one more periodic task, for the scheduler
tests: `celery -A tests.ops.beat_app beat` sends core.tasks.ping every OPS_TICK_SECONDS to the
queue OPS_TICK_QUEUE (nobody consumes it: the test counts the messages there). The project's
own schedule is left out, so that only the test's entry is sent."""

import os

from config.celery import app

__all__ = ["app"]

app.conf.beat_schedule = {
    "ops-tick": {
        "task": "core.tasks.ping",
        "schedule": float(os.environ.get("OPS_TICK_SECONDS", "0.5")),
        "args": ["tick"],
        "options": {"queue": os.environ.get("OPS_TICK_QUEUE", "ops-tick")},
    }
}
