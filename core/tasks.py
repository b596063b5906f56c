"""Celery tasks of the core app."""

from celery import shared_task


@shared_task(bind=True)
def ping(self, value):
    """Echo `value` with the name of the worker that ran it: proves a real worker is listening."""
    return {"pong": value, "worker": self.request.hostname}


@shared_task(ignore_result=True)
def seal_audit_trail():
    """Seal the audit events committed since the last run and write the checkpoints that are
    due (beat, every AUDIT_SEAL_SECONDS); does nothing while another sealer holds the lease."""
    from core.audit import seal_pending

    result = seal_pending()
    return {"sealed": result.sealed, "checkpoints": result.checkpoints}
