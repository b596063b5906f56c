"""A slow target system, for the tests and the benchmark that need a rotation to take a while: a
worker SIGKILLed in the middle of one, a benchmark of a slow directory. Every connector waits
before it pushes a rotation to its target; production code knows nothing of the pause.

A Celery worker started as `celery -A tests.support.slow_target worker ...` runs the
project's own app (config.celery) with the pause of SLOW_TARGET_SECONDS (its environment) before
each push; a process of its own uses `slow_pushes(seconds)`.
"""

import os
import pkgutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import wraps
from unittest import mock

from celery import signals

from config.celery import app  # what `celery -A tests.support.slow_target` runs

__all__ = ["APP", "SECONDS_VARIABLE", "app", "slow_pushes"]

APP = __name__  # for `celery -A`
SECONDS_VARIABLE = "SLOW_TARGET_SECONDS"
# Named, not imported: the connectors import the models, which need Django set up, and a worker
# imports this module before it sets Django up.
_PUSHING_CONNECTORS = (
    "credentials.connectors.local:LocalConnector",
    "credentials.connectors.ldap:LdapConnector",
)


def _patchers(seconds: float) -> list:
    def after_a_pause(push):
        @wraps(push)
        def paused(self, **values):
            time.sleep(seconds)
            return push(self, **values)

        return paused

    connectors = [pkgutil.resolve_name(name) for name in _PUSHING_CONNECTORS]
    return [
        mock.patch.object(cls, "apply_rotation", after_a_pause(cls.apply_rotation))
        for cls in connectors
    ]


@contextmanager
def slow_pushes(seconds: float) -> Iterator[None]:
    """Every connector waits `seconds` before it pushes a rotation, until the block ends."""
    patchers = _patchers(seconds)
    for patcher in patchers:
        patcher.start()
    try:
        yield
    finally:
        for patcher in patchers:
            patcher.stop()


@signals.worker_init.connect
def _slow_down_this_worker(**_kwargs) -> None:
    # worker_init comes after Django is set up, and before a prefork pool forks its children,
    # which inherit the patch. It lasts as long as the worker.
    for patcher in _patchers(float(os.environ[SECONDS_VARIABLE])):
        patcher.start()
