"""/health/ for load balancers: 200 when every check passes, 503 when one fails, with a JSON
object naming each check and its state. No sign-in (a load balancer has none), so it says
nothing a stranger could use: no host name, no address, no version, no key id, no error text
(the reason goes to the log instead).

Checks: the database answers; the broker answers; a worker wrote its heartbeat (the periodic
task core.tasks.worker_heartbeat) within HEALTH_HEARTBEAT_MAX_AGE_SECONDS; the audit signing
key loads. The apps' own checks (the credential keys) are passed in by config.urls, which
knows every app (core imports none)."""

import logging
from collections.abc import Callable, Mapping
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db import connection
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from core.models import WorkerHeartbeat

logger = logging.getLogger("core.health")

# A check returns None when all is well, or a short reason that reveals nothing (not the
# exception's text: a broker URL in an error message would carry its password).
Check = Callable[[], str | None]


def worker_heartbeat_write(worker: str) -> None:
    """A worker is alive and taking tasks now (the heartbeat task calls this)."""
    WorkerHeartbeat.objects.update_or_create(
        worker=worker[:200], defaults={"seen_at": timezone.now()}
    )


def worker_heartbeat_age() -> float | None:
    """Seconds since any worker last wrote its heartbeat; None if none ever did."""
    beat = WorkerHeartbeat.objects.aggregate(newest=Max("seen_at"))["newest"]
    if beat is None:
        return None
    return max((timezone.now() - beat).total_seconds(), 0.0)


def check_database() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return None


def check_broker() -> str | None:
    with current_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
    return None


def check_worker() -> str | None:
    age = worker_heartbeat_age()
    if age is None:
        return "no heartbeat yet"
    if age > timedelta(seconds=settings.HEALTH_HEARTBEAT_MAX_AGE_SECONDS).total_seconds():
        return "heartbeat too old"
    return None


def check_audit_key() -> str | None:
    from core.sealer import signing_key, verify_keys

    signing_key()
    verify_keys()
    return None


CORE_CHECKS: dict[str, Check] = {
    "database": check_database,
    "broker": check_broker,
    "worker": check_worker,
    "audit_signing_key": check_audit_key,
}


def run_checks(checks: Mapping[str, Check]) -> dict[str, dict[str, str]]:
    results: dict[str, dict[str, str]] = {}
    for name, check in checks.items():
        try:
            reason = check()
        except Exception:
            logger.warning("health check %s failed", name, exc_info=True)
            reason = "failed"
            if name == "database":
                connection.close()  # a broken connection is not reused by the next check
        results[name] = (
            {"status": "ok"} if reason is None else {"status": "error", "reason": reason}
        )
    return results


def health_view(checks: Mapping[str, Check]) -> Callable[[HttpRequest], HttpResponse]:
    """The view for `checks` (CORE_CHECKS and those of the apps, from config.urls)."""

    @never_cache
    @require_safe
    def health(request: HttpRequest) -> HttpResponse:
        results = run_checks(checks)
        healthy = all(r["status"] == "ok" for r in results.values())
        return JsonResponse(
            {"status": "ok" if healthy else "error", "checks": results},
            status=200 if healthy else 503,
        )

    return health
