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


@shared_task(ignore_result=True)
def check_audit_chain():
    """Verify the whole audit trail and keep the outcome for the audit-trail page (beat, every
    AUDIT_CHECK_SECONDS)."""
    from core.audit import chain_check

    check = chain_check()
    return {"verified": check.verified, "broken_seq": check.broken_seq}


@shared_task(bind=True, ignore_result=True)
def worker_heartbeat(self):
    """A worker is alive and taking tasks (beat, every WORKER_HEARTBEAT_SECONDS): /health/
    answers 503 when the last one is older than HEALTH_HEARTBEAT_MAX_AGE_SECONDS."""
    from core.health import worker_heartbeat_write

    worker_heartbeat_write(self.request.hostname or "worker")


@shared_task(ignore_result=True)
def resend_outbox():
    """Send the tasks whose sending after their commit failed (beat, every OUTBOX_SWEEP_SECONDS)."""
    from core.queue import outbox_resend

    return outbox_resend()
