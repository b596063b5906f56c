"""Thin Celery tasks: ids in, a service call, retries here (the services are idempotent).
No task argument or result ever holds a password."""

import logging

from celery import shared_task
from django.conf import settings

from credentials.accounts import accounts_delete_for_terminal, retired_accounts_delete_pending
from credentials.connectors import ConnectorError
from credentials.rotation import (
    retry_delay,
    rotation_fail,
    rotation_failed_alert,
    rotation_note_error,
    rotation_request_aged,
    rotation_resend_stale,
    rotations_perform,
)

logger = logging.getLogger(__name__)

_ROTATION_TASK = {
    "bind": True,
    "acks_late": True,  # acknowledged only after the rotations ran...
    "reject_on_worker_lost": True,  # ...and requeued if the worker dies in the middle
    "max_retries": None,  # counted below, so that the last failure marks the account
    "ignore_result": True,  # the Rotation rows are the result
}


@shared_task(**_ROTATION_TASK)
def rotate_accounts(self, rotation_ids: list[int]) -> None:
    """A batch of rotations; the ones the target refused are retried together, later."""
    retry = _rotate(self, rotation_ids)
    if retry:
        raise self.retry(
            args=(retry,), countdown=retry_delay(self.request.retries), exc=None
        ) from None


@shared_task(**_ROTATION_TASK)
def rotate_account(self, rotation_id: int) -> None:
    """One rotation (a transaction that asked for one; and messages sent before batches)."""
    if _rotate(self, [rotation_id]):
        raise self.retry(countdown=retry_delay(self.request.retries), exc=None) from None


def _rotate(task, rotation_ids: list[int]) -> list[int]:
    """Run the batch; mark each rotation the target refused for good, or that failed on its
    last retry. Returns the rotations to retry. Every rotation of the batch in a retry has
    failed every earlier try of it, so the task's retry count is each one's."""
    retry = []
    # Only a first try takes others up: a retry's count is each of its rotations' own.
    coalesce = 0 if task.request.is_eager or task.request.retries else settings.ROTATION_COALESCE
    outcomes = rotations_perform(rotation_ids=rotation_ids, coalesce=coalesce)
    for rotation_id, outcome in outcomes.items():
        if isinstance(outcome, ConnectorError):
            message = str(outcome)
            if outcome.retryable and task.request.retries < settings.ROTATION_MAX_RETRIES:
                rotation_note_error(rotation_id=rotation_id, error=message)
                # One taken up ahead of its message is retried by that message, or resent.
                if rotation_id in rotation_ids:
                    retry.append(rotation_id)
            else:
                try:
                    rotation_fail(rotation_id=rotation_id, error=message)
                except Exception:  # the others are still marked; the sweeper resends this one
                    logger.exception("rotation %s could not be marked failed", rotation_id)
        elif isinstance(outcome, Exception):
            # Not the target's answer: left requested, for the sweeper to send again.
            logger.error(
                "rotation %s failed: %s", rotation_id, type(outcome).__name__, exc_info=outcome
            )
    return retry


@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def alert_rotation_failed(rotation_id: int) -> int:
    return rotation_failed_alert(rotation_id=rotation_id)


@shared_task(ignore_result=True)
def resend_stale_rotations() -> int:
    return rotation_resend_stale()


@shared_task(ignore_result=True)
def rotate_aged_secrets() -> int:
    return rotation_request_aged()


@shared_task(ignore_result=True)
def delete_accounts_of_terminal(terminal_id: int) -> int:
    return accounts_delete_for_terminal(terminal_id=terminal_id)


@shared_task(ignore_result=True)
def delete_accounts_of_retired_terminals() -> int:
    return retired_accounts_delete_pending()
