from celery import shared_task

from compliance import access_log_rules, policy_checks
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


@shared_task(ignore_result=True)
def analyse_access_logs() -> int:
    return access_log_rules.access_log_analyse().findings


@shared_task(ignore_result=True)
def ingest_access_log(ingestion_id: int) -> None:
    from compliance.access_logs.ingestion import access_log_ingestion_run

    access_log_ingestion_run(ingestion_id)


@shared_task(ignore_result=True)
def resend_stale_access_log_ingestions() -> int:
    """The ingestions' sweeper: sends again the stalled ones, removes the files left behind."""
    from compliance.access_logs.ingestion import (
        access_log_files_remove_left,
        access_log_ingestions_resend,
    )

    access_log_files_remove_left()
    return access_log_ingestions_resend()


@shared_task(ignore_result=True)
def produce_audit_report(report_id: int) -> None:
    from compliance.audit_report import audit_report_produce

    audit_report_produce(report_id=report_id)


@shared_task(ignore_result=True)
def resend_stale_audit_reports() -> int:
    from compliance.audit_report import audit_reports_resend_stale

    return audit_reports_resend_stale()
