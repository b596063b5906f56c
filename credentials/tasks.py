"""Thin Celery tasks: ids in, a service call, retries here (the services are idempotent).
No task argument or result ever holds a password."""

from celery import shared_task
from django.conf import settings

from credentials import services
from credentials.connectors import ConnectorError


@shared_task(
    bind=True,
    acks_late=True,  # acknowledged only after the rotation ran...
    reject_on_worker_lost=True,  # ...and requeued if the worker dies in the middle
    max_retries=None,  # counted below, so that the last failure marks the account
    ignore_result=True,  # the Rotation row is the result
)
def rotate_account(self, rotation_id: int) -> str:
    try:
        return services.rotation_perform(rotation_id=rotation_id)
    except ConnectorError as exc:
        message = str(exc)
        if exc.retryable and self.request.retries < settings.ROTATION_MAX_RETRIES:
            services.rotation_note_error(rotation_id=rotation_id, error=message)
            raise self.retry(
                countdown=services.retry_delay(self.request.retries), exc=None
            ) from None
        services.rotation_fail(rotation_id=rotation_id, error=message)
        return "failed"


@shared_task(ignore_result=True)
def resend_stale_rotations() -> int:
    return services.rotation_resend_stale()


@shared_task(ignore_result=True)
def rotate_aged_secrets() -> int:
    return services.rotation_request_aged()


@shared_task(ignore_result=True)
def delete_accounts_of_terminal(terminal_id: int) -> int:
    return services.accounts_delete_for_terminal(terminal_id=terminal_id)
