from celery import shared_task

from lending import arrangements, notifications, services, supervision


@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_request_notification(request_id: int, event: str) -> int:
    return notifications.send_request_email(request_id=request_id, event=event)


@shared_task(ignore_result=True)
def settle_returned_terminals() -> int:
    return services.returned_terminals_settle()


@shared_task(ignore_result=True)
def recover_stuck_checkouts() -> int:
    return services.stuck_checkouts_recover()


@shared_task(ignore_result=True)
def notify_overdue_loans() -> int:
    return services.overdue_notify()


@shared_task(ignore_result=True)
def notify_loans_due_soon() -> int:
    return services.due_soon_notify()


@shared_task(ignore_result=True)
def end_due_arrangements() -> dict:
    result = arrangements.arrangements_sweep()
    return {"ended": result.ended, "locked": result.locked, "deleted": result.deleted}


@shared_task(ignore_result=True)
def send_supervision_reminders() -> int:
    return supervision.supervision_reminders()
