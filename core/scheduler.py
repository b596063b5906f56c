"""Exactly one scheduler, however many `celery beat` processes run (settings:
CELERY_BEAT_SCHEDULER = "core.scheduler:LeasedScheduler").

Every beat ticks, but only the one that holds the database lease "scheduler" (core.leases)
sends the tasks that are due; it renews the lease on every tick, and the tick is never longer
than a third of SCHEDULER_LEASE_SECONDS. A second beat started by mistake (or a standby on
another machine) waits: while it does, it moves its own schedule past every run that falls due,
without sending it, so that on taking over it never repeats a run the holder already sent (a
stock-take opened twice). When the holder stops (it releases the lease) or dies (the lease
expires), the standby takes the lease on its next tick and sends the runs due from then on.
A run that falls due in the seconds between a holder's death and the takeover is skipped,
not sent late: the periodic tasks are sweeps that the next run makes good."""

import logging
from typing import Any

from celery.beat import PersistentScheduler
from django.conf import settings
from django.db import DatabaseError, connection

from core.leases import default_holder, lease_release, lease_take

logger = logging.getLogger("core.scheduler")

LEASE_NAME = "scheduler"


class LeasedScheduler(PersistentScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.holder = f"beat:{default_holder()}"
        self.holds_lease: bool | None = None  # not asked yet: the first answer is logged
        super().__init__(*args, **kwargs)

    @property
    def lease_seconds(self) -> float:
        return float(settings.SCHEDULER_LEASE_SECONDS)

    def _take_lease(self) -> bool:
        try:
            taken = lease_take(LEASE_NAME, self.holder, self.lease_seconds)
        except DatabaseError:
            # The database is down or the connection broke: send nothing (another beat may hold
            # the lease and we cannot know), and reconnect on the next tick.
            logger.warning("scheduler lease: the database did not answer; sending nothing")
            connection.close()
            taken = False
        if taken != self.holds_lease:
            logger.info(
                "scheduler lease %s (%s)",
                "held: sending the due tasks" if taken else "held by another beat: standing by",
                self.holder,
            )
        self.holds_lease = taken
        return taken

    def tick(self, *args: Any, **kwargs: Any) -> float:
        ceiling = max(self.lease_seconds / 3, 0.1)
        was_holding = bool(self.holds_lease)
        if self._take_lease():
            if not was_holding:
                # Taking over: the queue of next runs is rebuilt from the schedule as skipped.
                self._heap = None
            return min(super().tick(*args, **kwargs), ceiling)
        self._skip_due_runs()
        return ceiling

    def _skip_due_runs(self) -> None:
        """Standing by: every run that is due now counts as done (by the holder)."""
        for name, entry in list(self.schedule.items()):
            is_due, _next = entry.is_due()
            if is_due:
                self.schedule[name] = next(entry)

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.holds_lease:
                try:
                    lease_release(LEASE_NAME, self.holder)
                except DatabaseError:
                    logger.warning("scheduler lease: could not release it; it will expire")
                self.holds_lease = False
