"""The apps' parts of /health/ and /metrics (core.health, core.metrics). They live here, in the
project's configuration, because core imports no app and these read several: config.urls
hands them to core's views."""

from django.db.models import Count, Min, Q
from django.utils import timezone

from compliance.models import Discrepancy, DiscrepancyStatus
from core.crypto import keyring
from core.health import CORE_CHECKS, Check
from core.metrics import Collector, Metric, core_metrics, gauge
from credentials.models import Account, AccountState, Rotation, RotationStatus
from lending.models import Loan, LoanStatus

PENDING_ROTATIONS = (
    RotationStatus.REQUESTED,
    RotationStatus.AWAITING_ADMIN,
    RotationStatus.AWAITING_VERIFICATION,
)


def check_credential_keys() -> str | None:
    """The credential keyring loads and its newest key seals and opens a value."""
    ring = keyring()
    key_id, sealed = ring.encrypt("health", context="health-check")
    if ring.decrypt(key_id, sealed, context="health-check") != "health":
        return "keys do not decrypt"
    return None


def rotation_metrics() -> list[Metric]:
    counts = dict(Rotation.objects.values_list("status").annotate(n=Count("id")).order_by())
    oldest = Rotation.objects.filter(status__in=PENDING_ROTATIONS).aggregate(t=Min("requested_at"))
    age = (timezone.now() - oldest["t"]).total_seconds() if oldest["t"] else 0.0
    failed_accounts = Account.objects.filter(state=AccountState.ROTATION_FAILED).count()
    return [
        Metric(
            "rotations",
            "Rotations by status (succeeded and failed are all time; the others wait).",
            "gauge",
            [({"status": status}, counts.get(status, 0)) for status in RotationStatus.values],
        ),
        gauge(
            "rotation_oldest_pending_age_seconds",
            "Age of the oldest rotation not finished yet (0 when none).",
            max(age, 0.0),
        ),
        gauge(
            "accounts_rotation_failed",
            "Accounts whose rotation failed (their terminals cannot be lent).",
            failed_accounts,
        ),
    ]


def loan_metrics() -> list[Metric]:
    now = timezone.now()
    row = Loan.objects.filter(status=LoanStatus.OPEN).aggregate(
        open=Count("id"), overdue=Count("id", filter=Q(due_at__lt=now))
    )
    return [
        gauge("loans_open", "Terminals on loan now.", row["open"]),
        gauge("loans_overdue", "Loans past their due time and not returned.", row["overdue"]),
    ]


def finding_metrics() -> list[Metric]:
    return [
        gauge(
            "findings_open",
            "Discrepancies (stock-takes, policy checks, access logs) not yet resolved.",
            Discrepancy.objects.filter(status=DiscrepancyStatus.OPEN).count(),
        )
    ]


HEALTH_CHECKS: dict[str, Check] = {**CORE_CHECKS, "credential_keys": check_credential_keys}
METRIC_COLLECTORS: list[Collector] = [
    core_metrics,
    rotation_metrics,
    loan_metrics,
    finding_metrics,
]
