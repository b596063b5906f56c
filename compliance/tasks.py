from celery import shared_task

from compliance import policy_checks
from compliance import services as stocktakes


@shared_task(ignore_result=True)
def open_due_stocktakes() -> int:
    return len(stocktakes.stocktakes_open_due())


@shared_task(ignore_result=True)
def run_policy_checks() -> dict:
    return policy_checks.run_policy_checks()


@shared_task(ignore_result=True)
def send_stocktake_reminders() -> int:
    return stocktakes.stocktake_reminders()
