"""Celery tasks of the core app."""

from celery import shared_task


@shared_task(bind=True)
def ping(self, value):
    """Echo `value` with the name of the worker that ran it: proves a real worker is listening."""
    return {"pong": value, "worker": self.request.hostname}
