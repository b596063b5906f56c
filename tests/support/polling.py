"""Waiting for a process the tests started: the one polling loop and the one free-port finder
that Redis, slapd, Celery workers and the browser journeys share."""

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(
    predicate: Callable[[], object],
    *,
    timeout: float,
    what: str,
    log: Path | None = None,
    interval: float = 0.2,
) -> None:
    """Poll `predicate` until it is true; fail the test with the log's tail after `timeout`.
    A predicate may raise to fail at once (the process it waits for has exited)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            details = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
            pytest.fail(f"timed out after {timeout}s waiting for {what}\n{details}")
        time.sleep(interval)
