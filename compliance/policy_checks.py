"""Scheduled policy checks: what a physical count cannot see. Each finding is a discrepancy, one
open per rule and subject: the next run adds no duplicate, and a resolved finding that recurs is
reopened."""

import logging
from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from compliance.models import Discrepancy, DiscrepancyKind, StockTakeStatus
from core.audit import record_events
from credentials.connectors import ConnectorError
from credentials.models import (
    Account,
    AccountState,
    ConnectorKind,
    Rotation,
    RotationStatus,
    TargetSystem,
)
from credentials.targets import connector_for
from lending.arrangements import terminals_out_after_end
from lending.models import Loan, LoanStatus
from terminals.models import Location, Terminal
from terminals.selectors import custody_rule_breaches, storage_rule_breaches

logger = logging.getLogger(__name__)
Kind = DiscrepancyKind


def _findings_storage():
    for terminal in storage_rule_breaches(Terminal.objects.select_related("location")):
        yield Kind.OUTSIDE_SECURED_LOCATION, terminal.asset_tag, {
            "terminal": terminal, "location": terminal.location,
            "details": {"location": terminal.location.code, "status": terminal.status},
        }  # fmt: skip
    for terminal in custody_rule_breaches(Terminal.objects.select_related("custodian")):
        yield Kind.CUSTODIAN_NOT_OPERATOR, terminal.asset_tag, {
            "terminal": terminal, "location": terminal.location,
            "details": {"custodian": terminal.custodian.code, "status": terminal.status},
        }  # fmt: skip


def _findings_accounts(now):
    live = Account.objects.exclude(state=AccountState.DELETED).select_related(
        "terminal", "target_system", "current_version"
    )
    for account in live.filter(state=AccountState.UNLOCKED).exclude(
        terminal__status=Terminal.Status.LENT
    ):
        yield Kind.UNLOCKED_NOT_LENT, f"account:{account.pk}", _account_fields(account)
    for account in live.filter(terminal__status=Terminal.Status.RETIRED):
        yield Kind.RETIRED_TERMINAL_ACCOUNT, f"account:{account.pk}", _account_fields(account)
    for account in live.filter(current_version__isnull=False):
        version = account.current_version
        assert version is not None, "filtered on current_version__isnull=False"
        age = now - (version.became_current_at or version.created_at)
        if age > timedelta(days=account.target_system.max_secret_age_days):
            fields = _account_fields(account)
            fields["details"]["age_days"] = age.days
            yield Kind.SECRET_TOO_OLD, f"account:{account.pk}", fields
    day_ago = now - timedelta(days=1)
    failed = Rotation.objects.filter(status=RotationStatus.FAILED, finished_at__lt=day_ago).filter(
        account__state=AccountState.ROTATION_FAILED
    )
    for account in live.filter(pk__in=failed.values("account_id")):
        yield Kind.ROTATION_FAILED_LONG, f"account:{account.pk}", _account_fields(account)


def _account_fields(account) -> dict:
    return {
        "terminal": account.terminal,
        "account": account,
        "details": {
            "login_id": account.login_id,
            "target_system": account.target_system.code,
        },
    }


def _findings_directories(now):
    """What each directory says against what the database says: login IDs no account here owns
    (orphans), and accounts the database holds locked that the directory lets sign in. A
    directory that cannot be read is a finding of its own, and the other targets are still
    checked: the policy checks never fail for one target's sake."""
    # A terminal being handed out is unlocked on its target a moment before the database says
    # so: not a finding while its check-out is young. One older than that was cut off after the
    # unlock (its process died): the account may stay unlocked on the directory while the
    # database says locked, which is exactly what this check is for.
    young = now - timedelta(seconds=getattr(settings, "CHECKOUT_STUCK_SECONDS", 120))
    handing_out = Loan.objects.filter(
        status=LoanStatus.CHECKING_OUT, checked_out_at__gt=young
    ).values("terminal_id")
    for target in TargetSystem.objects.filter(connector=ConnectorKind.LDAP).order_by("code"):
        try:
            connector = connector_for(target)
            on_target = set(connector.list_login_ids())
            unlocked_on_target = set(connector.unlocked_login_ids())
        except Exception as exc:  # a ConnectorError, or anything else the target caused
            # A ConnectorError's words never hold a password; any other error's might.
            error = str(exc) if isinstance(exc, ConnectorError) else type(exc).__name__
            logger.warning("policy check: cannot read the directory of %s: %s", target.code, error)
            yield (
                Kind.DIRECTORY_UNCHECKED,
                f"directory:{target.code}",
                {"details": {"target_system": target.code, "error": error[:500]}},
            )
            continue
        accounts = Account.objects.filter(target_system=target).exclude(state=AccountState.DELETED)
        known = set(accounts.values_list("login_id", flat=True))
        for login_id in sorted(on_target - known):
            yield (
                Kind.ORPHAN_ACCOUNT,
                f"{target.code}:{login_id}",
                {"details": {"target_system": target.code, "login_id": login_id}},
            )
        # Locked, or left so by a rotation that failed: neither may sign in.
        held_locked = (
            accounts.filter(
                state__in=(AccountState.LOCKED, AccountState.ROTATION_FAILED),
                login_id__in=unlocked_on_target,
            )
            .exclude(terminal_id__in=handing_out)
            .select_related("terminal", "target_system")
        )
        for account in held_locked:
            yield Kind.UNLOCKED_ON_DIRECTORY, f"account:{account.pk}", _account_fields(account)


def _findings_stocktakes(now):
    """A site whose count is late, as the stock-take service means it: a stock-take of it still
    open after its due date (what the reminders' overdue notice and the API's `overdue` say), or,
    with none open, none opened for the interval and the due window a scheduled one would have
    had since its last one opened (no count was even started in time). A count the scheduler
    opened on time and still within its due date is not late, however long ago the last one was
    completed; one closed and under review was counted in time."""
    due_window = timedelta(days=settings.STOCKTAKE_DUE_DAYS)  # what stocktake_open gives
    sites = Location.objects.filter(kind=Location.Kind.SITE).annotate(
        last_completed=Max(
            "stocktakes__opened_at", filter=Q(stocktakes__status=StockTakeStatus.COMPLETED)
        ),
        last_opened=Max("stocktakes__opened_at"),  # what the scheduler counts its interval from
        open_due=Max("stocktakes__due_at", filter=Q(stocktakes__status=StockTakeStatus.OPEN)),
    )
    for site in sites:
        if site.open_due is not None:  # one open per site at most, and the latest opened
            due = site.open_due
        elif site.last_opened is not None:
            due = site.last_opened + timedelta(days=site.stocktake_interval_days) + due_window
        else:
            due = None  # never counted
        if due is None or due < now:
            yield (
                Kind.STOCKTAKE_OVERDUE,
                site.code,
                {
                    "location": site,
                    "details": {
                        "last_completed": site.last_completed.isoformat()
                        if site.last_completed
                        else None,
                        "interval_days": site.stocktake_interval_days,
                    },
                },
            )


def _findings_arrangements(now):
    """A terminal still out after its time-boxed arrangement ended: one finding per terminal and
    day (the day is in the subject), so each daily run opens a new one until it is back."""
    day = timezone.localdate(now).isoformat()
    for loan in terminals_out_after_end():
        arrangement = loan.request.declaration.arrangement
        yield (
            Kind.ARRANGEMENT_TERMINAL_OUT,
            f"arrangement:{arrangement.pk}:{loan.terminal.asset_tag}:{day}",
            {
                "terminal": loan.terminal,
                "details": {
                    "arrangement": arrangement.pk,
                    "title": arrangement.title,
                    "loan": loan.pk,
                    "contractor": loan.request.contractor.code,
                    "ends_at": arrangement.ends_at.isoformat(),
                    "day": day,
                },
            },
        )


# Any constant key: two runs (the scheduler's and a person's button) record one after the other.
_RUN_LOCK_KEY = 0x6E77_706F_6C63


def run_policy_checks(*, now=None) -> dict[str, int]:
    """Record each finding; returns how many were new or reopened, per kind.

    The rules are read first, one query each (and one listing per directory), outside any
    transaction. Then, in one short transaction: the findings still open are skipped, the new
    ones inserted in bulk, the resolved ones that recur reopened in bulk, and each gets its
    audit event, all of them in one INSERT. Statements grow with the rules, not with the
    findings."""
    now = now or timezone.now()
    found: dict[tuple[str, str], dict] = {}
    finders = (
        _findings_storage(),
        _findings_accounts(now),
        _findings_directories(now),
        _findings_stocktakes(now),
        _findings_arrangements(now),
    )
    for finder in finders:
        for kind, subject, fields in finder:
            found.setdefault((str(kind), subject), fields)
    if not found:
        return {}
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # On SQLite the IMMEDIATE transaction already holds the only write lock.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_RUN_LOCK_KEY])
        return _record(found)


def _record(found: dict[tuple[str, str], dict]) -> dict[str, int]:
    """One open finding per rule and subject: an open one is left alone, a resolved one that
    recurs is reopened (its latest), any other is new."""
    policy = Discrepancy.objects.filter(stocktake__isnull=True, kind__in={k for k, _s in found})
    still_open = set(policy.filter(status=Discrepancy.Status.OPEN).values_list("kind", "subject"))
    todo = {key: fields for key, fields in found.items() if key not in still_open}
    if not todo:
        return {}
    latest: dict[tuple[str, str], int] = {}
    resolved = policy.exclude(status=Discrepancy.Status.OPEN).order_by("opened_at", "id")
    for kind, subject, pk in resolved.values_list("kind", "subject", "pk").iterator(2000):
        if (kind, subject) in todo:
            latest[(kind, subject)] = pk  # the last one read is the latest
    # A new review: the earlier outcome, note and assignee stay in the audit trail.
    reopened = [
        Discrepancy(
            pk=pk, kind=kind, subject=subject, status=Discrepancy.Status.OPEN,
            details=todo[(kind, subject)].get("details", {}), outcome="", resolution_note="",
            resolved_by=None, resolved_at=None, assignee=None,
        )
        for (kind, subject), pk in latest.items()
    ]  # fmt: skip
    Discrepancy.objects.bulk_update(
        reopened,
        ["status", "details", "outcome", "resolution_note", "resolved_by", "resolved_at",
         "assignee"],
        batch_size=1000,
    )  # fmt: skip
    created = Discrepancy.objects.bulk_create(
        [
            Discrepancy(
                kind=kind,
                subject=subject,
                terminal=fields.get("terminal"),
                location=fields.get("location"),
                account=fields.get("account"),
                details=fields.get("details", {}),
            )
            for (kind, subject), fields in todo.items()
            if (kind, subject) not in latest
        ],
        batch_size=1000,
    )
    # One INSERT for all the run's events, each finding still its own event.
    record_events(
        actor=None,
        events=[
            *(
                ("discrepancy.reopened", d, {"kind": d.kind, "subject": d.subject})
                for d in reopened
            ),
            *(
                ("discrepancy.opened", d, {"kind": d.kind, "subject": d.subject, **d.details})
                for d in created
            ),
        ],
    )
    return dict(Counter(kind for kind, _subject in todo))
