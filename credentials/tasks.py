"""Thin Celery tasks: ids in, a service call, retries here (the services are idempotent).
No task argument or result ever holds a password."""

from celery import shared_task
from django.conf import settings

from credentials.accounts import accounts_delete_for_terminal
from credentials.connectors import ConnectorError
from credentials.rotation import (
    retry_delay,
    rotation_fail,
    rotation_note_error,
    rotation_perform,
    rotation_request_aged,
    rotation_resend_stale,
)


@shared_task(
    bind=True,
    acks_late=True,  # acknowledged only after the rotation ran...
    reject_on_worker_lost=True,  # ...and requeued if the worker dies in the middle
    max_retries=None,  # counted below, so that the last failure marks the account
    ignore_result=True,  # the Rotation row is the result
)
def rotate_account(self, rotation_id: int) -> str:
    try:
        return rotation_perform(rotation_id=rotation_id)
    except ConnectorError as exc:
        message = str(exc)
        if exc.retryable and self.request.retries < settings.ROTATION_MAX_RETRIES:
            rotation_note_error(rotation_id=rotation_id, error=message)
            raise self.retry(countdown=retry_delay(self.request.retries), exc=None) from None
        rotation_fail(rotation_id=rotation_id, error=message)
        return "failed"


@shared_task(ignore_result=True)
def resend_stale_rotations() -> int:
    return rotation_resend_stale()


@shared_task(ignore_result=True)
def rotate_aged_secrets() -> int:
    return rotation_request_aged()


@shared_task(ignore_result=True)
def delete_accounts_of_terminal(terminal_id: int) -> int:
    return accounts_delete_for_terminal(terminal_id=terminal_id)
