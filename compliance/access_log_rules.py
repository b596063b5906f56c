"""Access-log analysis: each sign-in a target system logged, judged against what this service
knew at that moment (which login ID belonged to which account, terminal, loan and contractor).

`access_log_analyse` judges the sign-ins stored since the previous analysis (ids above its
`last_event_id`: an event that arrives late, for a time already analysed, simply has a higher
id). Each rule is one query over those events (correlated subqueries over the login-ID validity
periods, the loans, the movements), never a query per event; on PostgreSQL rules 1, 7, 4 and 3
share one pass that looks up, once per sign-in, its login ID's record, the covering loan and the
terminal's status then (a temporary table), and read it with plain joins. Each finding is a
discrepancy of its own kind, one per rule and subject, which the partial unique constraint
`discrepancy_sign_in_judged_once` keeps from ever being found twice, resolved or not.

Words used below. A login ID is *valid* at moment t when a LoginIdRecord of the event's target
system has it with valid_from <= t < valid_until (valid_until empty: still valid); its account
and that account's terminal are the ones judged. A loan *covers* t when it is of that terminal,
was checked out at or before t, did not fail to hand out (abandoned), and was not returned by t
(a loan declared lost was never returned: it still covers). The terminal's *status at t* is the
status its latest movement at or before t left it in (terminals.Movement, its history), not its
current status.

The rules (1, 3, 4 and 7 judge successful sign-ins with a valid login ID; 2 and 6 any result, as
an attempt with an old or unknown ID is itself the finding; 5 failures):

1. Not lent: no loan covered the moment (the terminal was in storage, returned and awaiting its
   rotation, in maintenance, ...).
7. Terminal not lent: a loan covered the moment, but the terminal's status at that moment was
   not `lent` (lost, sent to maintenance or retired while on loan, or still being handed out).
4. After the window: a loan covered the moment and the terminal was lent, but the moment is at or
   after the loan's due time, or at or after its declaration's lift plus the grace that lift gave
   (the declaration's `grace_hours`; LENDING_GRACE_HOURS only for a lift with none recorded).
   The lift makes each loan then out due at the end of that grace, so its due time mostly says
   so already; the lift's own grace still bounds one the lift did not reach.
   So 1, 7 and 4 never judge the same sign-in: 1 when no loan covers it, 7 when one does but the
   terminal was not lent, 4 when it was lent but too late.
3. Foreign host: the source is not the account's terminal: it has a host name whose first label
   (short name or FQDN alike, case-insensitive) is not the terminal's, or an address, and neither
   matches (a terminal is recognised by its host name or by any of its addresses). A sign-in with
   neither host nor address, or against a terminal with neither host name nor address recorded,
   is not judged. Independent of 1, 4 and 7: it may come with one of them.
2. Old login ID: the login ID was not valid at the moment, but had been issued for that target
   and its validity ended at or before it (rotated away; the edge itself is old: at valid_until
   the new ID is the valid one).
6. Unknown login ID: no record of that login ID for that target system began at or before the
   moment: this service never issued it (or had not yet). The service's own binds to an LDAP
   target (the RDN of the target's bind DN, which slapd logs like any other) are not judged.
5. Failure burst: for one target system and login ID, a failure with at least
   ACCESS_LOG_FAILURE_BURST_THRESHOLD failures (itself included) in the
   ACCESS_LOG_FAILURE_BURST_SECONDS ending at it is a *trigger*; consecutive triggers (in time
   order, no failure between them that is not one) are one burst, found once, named by the first
   failure in its first trigger's window. Failures analysed before count in the window. A late
   failure that moves a burst's first failure names a burst of its own.
"""

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import (
    Case,
    CharField,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Left, Lower, StrIndex
from django.db.models.lookups import GreaterThan
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from compliance.access_logs.parsers import normalise_login_id, rdn_value
from compliance.models import (
    SIGN_IN_KINDS,
    AccessLogAnalysis,
    Discrepancy,
    DiscrepancyKind,
    SignInEvent,
    SignInResult,
)
from core.audit import format_iso_datetime, record_event, record_events
from core.models import User
from core.phrases import define, describe, is_stored_phrase
from credentials.models import LoginIdRecord, TargetSystem
from lending.models import Loan, LoanStatus
from terminals.models import Movement, Terminal, TerminalAddress, TerminalStatus

logger = logging.getLogger(__name__)
Kind = DiscrepancyKind

# Any constant key: the scheduler's run and a person's wait for each other.
_RUN_LOCK_KEY = 0x6E77_616C_6F67
BATCH = 500  # findings per INSERT, and per look-up of those it inserted


# What was expected instead, in the reader's language and time zone (core.phrases) -------------


def _at(value: Any) -> str:
    return format_iso_datetime(value) if value else "—"


EXPECTED_LOAN = define(
    "compliance.sign_in.expected_loan",
    lambda terminal: (
        _("Sign-ins with this login ID only while terminal %(terminal)s is on loan.")
        % {"terminal": terminal}
    ),
)
EXPECTED_LENT = define(
    "compliance.sign_in.expected_lent",
    lambda terminal, status: (
        _("Sign-ins only while terminal %(terminal)s is lent; it was %(status)s then.")
        % {
            "terminal": terminal,
            "status": TerminalStatus(status).label if status in TerminalStatus.values else status,
        }
    ),
)
EXPECTED_WITHIN_WINDOW = define(
    "compliance.sign_in.expected_within_window",
    lambda until: _("Sign-ins during the loan only before %(until)s (its due time, or the lift "
                    "of its declaration plus the grace period).")
    % {"until": _at(until)},
)  # fmt: skip
EXPECTED_OWN_HOST = define(
    "compliance.sign_in.expected_own_host",
    lambda terminal, hostname, addresses: (
        _("Sign-ins from terminal %(terminal)s itself: host %(hostname)s or address %(addresses)s.")
        % {"terminal": terminal, "hostname": hostname or "—", "addresses": addresses or "—"}
    ),
)
EXPECTED_CURRENT_ID = define(
    "compliance.sign_in.expected_current_id",
    lambda until: (
        _("The login ID valid at that moment: this one was rotated away or deleted at %(until)s.")
        % {"until": _at(until)}
    ),
)
EXPECTED_ISSUED_ID = define(
    "compliance.sign_in.expected_issued_id",
    lambda target: _("A login ID this service issued for %(target)s.") % {"target": target},
)
EXPECTED_FEW_FAILURES = define(
    "compliance.sign_in.expected_few_failures",
    lambda threshold, seconds: (
        _("Fewer than %(threshold)s failed sign-ins with one login ID within %(seconds)s seconds.")
        % {"threshold": threshold, "seconds": seconds}
    ),
)


# The running ------------------------------------------------------------------------------------


def access_log_analyse(*, actor: User | None = None) -> AccessLogAnalysis:
    """Judge every sign-in stored since the previous analysis; record the analysis and its
    findings. Safe to run twice at once: the second waits for the first, then judges only what
    the first left (usually nothing). A run with nothing new to judge is not stored (the
    scheduler runs every few minutes): it answers an unsaved analysis of no events."""
    upto = _committed_high_water()
    if upto is None:
        return AccessLogAnalysis(finished_at=timezone.now())  # an ingestion held the table
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # On SQLite the IMMEDIATE transaction already holds the only write lock.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_RUN_LOCK_KEY])
        after = _analysed_up_to()
        new = SignInEvent.objects.filter(pk__gt=after, pk__lte=upto)
        span = new.aggregate(first=Min("pk"), n=Count("pk"))
        if not span["n"]:
            return AccessLogAnalysis(
                last_event_id=after, events=0, findings=0, finished_at=timezone.now()
            )
        analysis = AccessLogAnalysis.objects.create(
            first_event_id=span["first"], last_event_id=upto, events=span["n"]
        )
        counts: Counter[str] = Counter()
        for kind, rows in _rules(after, upto):
            counts[kind] += _record(kind, rows, actor=actor)
        analysis.findings = sum(counts.values())
        analysis.finished_at = timezone.now()
        analysis.save(update_fields=["findings", "finished_at"])
        record_event(
            actor=actor,
            action="access_log.analysed",
            obj=analysis,
            details={
                "first_event": analysis.first_event_id,
                "last_event": analysis.last_event_id,
                "events": analysis.events,
                "discrepancies": {kind: n for kind, n in counts.items() if n},
            },
        )
    return analysis


def _analysed_up_to() -> int:
    last = AccessLogAnalysis.objects.order_by("-last_event_id").values_list(
        "last_event_id", flat=True
    )
    return last.first() or 0


def _committed_high_water() -> int | None:
    """The highest sign-in id below which every id is committed (or will never be): on
    PostgreSQL ids come from a sequence at insert time, so an ingestion still running may hold
    lower ids than one already committed. A SHARE lock waits for every transaction inserting
    into the table to end, and keeps new ones out for the instant of the read; those that come
    after take higher ids. None if an ingestion holds the table too long (the next run waits
    again). On SQLite writers take turns: every id read is committed."""
    table = SignInEvent._meta.db_table
    if connection.vendor != "postgresql":
        return SignInEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '60s'")
            cursor.execute(f"LOCK TABLE {table} IN SHARE MODE")
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608
            return cursor.fetchone()[0]
    except OperationalError as exc:
        logger.warning("access-log analysis put off: %s", exc)
        return None


# The rules --------------------------------------------------------------------------------------


def _rules(after: int, upto: int) -> Iterator[tuple[str, Iterable[dict]]]:
    if connection.vendor == "postgresql":
        # Rules 1, 7, 4 and 3 read one pass over the new sign-ins (below), made when the first
        # of them is read.
        yield Kind.SIGN_IN_NOT_LENT, _not_lent(_judged(_NOT_LENT, pass_over=(after, upto)))
        yield Kind.SIGN_IN_TERMINAL_NOT_LENT, _terminal_not_lent(_judged(_TERMINAL_NOT_LENT))
        yield Kind.SIGN_IN_AFTER_WINDOW, _after_window(_judged(_AFTER_WINDOW))
        yield Kind.SIGN_IN_FOREIGN_HOST, _foreign_host(_judged(_FOREIGN_HOST))
        _drop_judged()
    else:
        # SQLite: the same rules as correlated subqueries (the ORM's), one query each.
        yield Kind.SIGN_IN_NOT_LENT, _rule_not_lent(after, upto)
        yield Kind.SIGN_IN_TERMINAL_NOT_LENT, _rule_terminal_not_lent(after, upto)
        yield Kind.SIGN_IN_AFTER_WINDOW, _rule_after_window(after, upto)
        yield Kind.SIGN_IN_FOREIGN_HOST, _rule_foreign_host(after, upto)
    yield Kind.SIGN_IN_OLD_LOGIN_ID, _rule_old_login_id(after, upto)
    yield Kind.SIGN_IN_UNKNOWN_LOGIN_ID, _rule_unknown_login_id(after, upto)
    yield Kind.SIGN_IN_FAILURE_BURST, _rule_failure_burst(after, upto)


def _new(after: int, upto: int) -> QuerySet[SignInEvent]:
    return SignInEvent.objects.filter(pk__gt=after, pk__lte=upto)


def _records() -> QuerySet[LoginIdRecord]:
    """The login-ID records of the outer sign-in's target system and login ID."""
    return LoginIdRecord.objects.filter(
        account__target_system=OuterRef("target_system"), login_id=OuterRef("login_id")
    )


def _valid_records() -> QuerySet[LoginIdRecord]:
    """Those valid at the sign-in's moment, latest first."""
    return (
        _records()
        .filter(valid_from__lte=OuterRef("occurred_at"))
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=OuterRef("occurred_at")))
        .order_by("-valid_from", "-pk")
    )


def _covering_loans() -> QuerySet[Loan]:
    """The loans of the outer row's terminal (`terminal_ref`) covering the sign-in's moment."""
    return (
        Loan.objects.filter(
            terminal=OuterRef("terminal_ref"), checked_out_at__lte=OuterRef("occurred_at")
        )
        .exclude(status=LoanStatus.ABANDONED)
        .filter(
            Q(return_confirmation__isnull=True)
            | Q(return_confirmation__returned_at__gt=OuterRef("occurred_at"))
        )
        .order_by("-checked_out_at", "-pk")
    )


def _of_loan(field: str) -> Subquery:
    return Subquery(Loan.objects.filter(pk=OuterRef("loan_ref")).values(field)[:1])


def _of_terminal(field: str) -> Subquery:
    return Subquery(Terminal.objects.filter(pk=OuterRef("terminal_ref")).values(field)[:1])


def _with_names(qs: QuerySet) -> QuerySet:
    """What every finding names: the target, the terminal, the loan's contractor."""
    return qs.annotate(
        target_code=F("target_system__code"),
        asset_tag=_of_terminal("asset_tag"),
        contractor=_of_loan("request__contractor__code"),
    )


def _valid_successes(after: int, upto: int) -> QuerySet:
    """Successful sign-ins with a login ID valid at their moment, with its account, terminal
    and the loan covering the moment (if any)."""
    valid = _valid_records()
    return (
        _new(after, upto)
        .filter(result=SignInResult.SUCCESS)
        .annotate(account_ref=Subquery(valid.values("account_id")[:1]))
        .filter(account_ref__isnull=False)
        .annotate(terminal_ref=Subquery(valid.values("account__terminal_id")[:1]))
        .annotate(loan_ref=Subquery(_covering_loans().values("pk")[:1]))
    )


def _status_then() -> Coalesce:
    moves = Movement.objects.filter(
        terminal=OuterRef("terminal_ref"), occurred_at__lte=OuterRef("occurred_at")
    ).order_by("-occurred_at", "-pk")
    return Coalesce(Subquery(moves.values("to_status")[:1]), Value(""))


_FIELDS = (
    "pk", "occurred_at", "login_id", "line_number", "ingestion_id", "target_code",
    "account_ref", "terminal_ref", "asset_tag", "loan_ref", "contractor",
)  # fmt: skip


def _rule_not_lent(after: int, upto: int) -> Iterator[dict]:
    qs = _with_names(_valid_successes(after, upto).filter(loan_ref__isnull=True))
    return _not_lent(qs.values(*_FIELDS).order_by("pk").iterator(BATCH))


def _not_lent(rows: Iterable[dict]) -> Iterator[dict]:
    for row in rows:
        yield _finding(row, expected=EXPECTED_LOAN(terminal=row["asset_tag"]))


def _rule_terminal_not_lent(after: int, upto: int) -> Iterator[dict]:
    qs = (
        _valid_successes(after, upto)
        .filter(loan_ref__isnull=False)
        .annotate(status_then=_status_then())
        .exclude(status_then=TerminalStatus.LENT)
    )
    return _terminal_not_lent(
        _with_names(qs).values(*_FIELDS, "status_then").order_by("pk").iterator(BATCH)
    )


def _terminal_not_lent(rows: Iterable[dict]) -> Iterator[dict]:
    for row in rows:
        yield _finding(
            row,
            terminal_status=row["status_then"],
            expected=EXPECTED_LENT(terminal=row["asset_tag"], status=row["status_then"]),
        )


def _lift_grace_hours() -> Coalesce:
    """The grace (hours) the covering loan's declaration was lifted with; LENDING_GRACE_HOURS
    for a lift with none recorded."""
    return Coalesce(
        _of_loan("request__declaration__grace_hours"),
        Value(settings.LENDING_GRACE_HOURS),
        output_field=IntegerField(),
    )


def _rule_after_window(after: int, upto: int) -> Iterator[dict]:
    qs = (
        _valid_successes(after, upto)
        .filter(loan_ref__isnull=False)
        .annotate(status_then=_status_then())
        .filter(status_then=TerminalStatus.LENT)
        .annotate(
            due=_of_loan("due_at"),
            lifted=_of_loan("request__declaration__lifted_at"),
            lift_grace=_lift_grace_hours(),
        )
        .filter(
            Q(occurred_at__gte=F("due"))
            | Q(
                occurred_at__gte=F("lifted")
                + ExpressionWrapper(
                    F("lift_grace") * Value(timedelta(hours=1)), output_field=DurationField()
                )
            )
        )
    )
    return _after_window(
        _with_names(qs)
        .values(*_FIELDS, "due", "lifted", "lift_grace")
        .order_by("pk")
        .iterator(BATCH)
    )


def _after_window(rows: Iterable[dict]) -> Iterator[dict]:
    for row in rows:
        grace = timedelta(hours=row["lift_grace"])
        until = row["due"] if row["lifted"] is None else min(row["due"], row["lifted"] + grace)
        yield _finding(
            row,
            due_at=row["due"].isoformat(),
            lifted_at=row["lifted"].isoformat() if row["lifted"] else None,
            expected=EXPECTED_WITHIN_WINDOW(until=until.isoformat()),
        )


def _first_label(expression):
    """A host name's first label, lower case: the short name of a short name or an FQDN."""
    lowered = Lower(expression)
    dot = StrIndex(lowered, Value("."))
    return Case(
        When(GreaterThan(dot, 0), then=Left(lowered, dot - 1)),
        default=lowered,
        output_field=CharField(),
    )


def _rule_foreign_host(after: int, upto: int) -> Iterator[dict]:
    addresses = TerminalAddress.objects.filter(terminal=OuterRef("terminal_ref"))
    qs = (
        _valid_successes(after, upto)
        .filter(~Q(source_host="") | Q(source_address__isnull=False))
        .annotate(
            hostname=Coalesce(_of_terminal("hostname"), Value("")),
            has_addresses=Exists(addresses),
            address_matches=Exists(addresses.filter(address=OuterRef("source_address"))),
            host_label=_first_label(F("source_host")),
            terminal_label=_first_label(F("hostname")),
        )
        .filter(~Q(hostname="") | Q(has_addresses=True))
        .filter(address_matches=False)
        .exclude(~Q(source_host="") & ~Q(hostname="") & Q(host_label=F("terminal_label")))
    )
    return _foreign_host(
        _with_names(qs)
        .values(*_FIELDS, "source_host", "source_address", "hostname")
        .order_by("pk")
        .iterator(BATCH)
    )


def _foreign_host(found: Iterable[dict]) -> Iterator[dict]:
    rows = list(found)
    known = _addresses_of({row["terminal_ref"] for row in rows})
    for row in rows:
        listed = ", ".join(known.get(row["terminal_ref"], []))
        yield _finding(
            row,
            source_host=row["source_host"],
            source_address=row["source_address"],
            expected=EXPECTED_OWN_HOST(
                terminal=row["asset_tag"], hostname=row["hostname"], addresses=listed
            ),
        )


def _addresses_of(terminal_ids: set[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    pairs = TerminalAddress.objects.filter(terminal_id__in=terminal_ids).order_by("address")
    for terminal_id, address in pairs.values_list("terminal_id", "address"):
        found.setdefault(terminal_id, []).append(str(address))
    return found


def _rule_old_login_id(after: int, upto: int) -> Iterator[dict]:
    ended = (
        _records().filter(valid_until__lte=OuterRef("occurred_at")).order_by("-valid_until", "-pk")
    )
    lent_under = (
        Loan.objects.filter(
            terminal=OuterRef("terminal_ref"),
            checked_out_at__gte=OuterRef("id_from"),
            checked_out_at__lt=OuterRef("id_until"),
        )
        .exclude(status=LoanStatus.ABANDONED)
        .order_by("-checked_out_at", "-pk")
    )
    qs = (
        _new(after, upto)
        .filter(~Exists(_valid_records()))
        .annotate(account_ref=Subquery(ended.values("account_id")[:1]))
        .filter(account_ref__isnull=False)
        .annotate(
            terminal_ref=Subquery(ended.values("account__terminal_id")[:1]),
            id_from=Subquery(ended.values("valid_from")[:1]),
            id_until=Subquery(ended.values("valid_until")[:1]),
        )
        # The loan under which this ID was last handed out: whoever kept it.
        .annotate(loan_ref=Subquery(lent_under.values("pk")[:1]))
    )
    fields = (*_FIELDS, "id_until", "result")
    for row in _with_names(qs).values(*fields).order_by("pk").iterator(BATCH):
        yield _finding(
            row,
            result=row["result"],
            valid_until=row["id_until"].isoformat(),
            expected=EXPECTED_CURRENT_ID(until=row["id_until"].isoformat()),
        )


def _service_binds() -> Q:
    """The sign-ins of the service itself: its connector binds to each LDAP target as the
    target's bind DN."""
    own = Q(pk__in=[])
    for target_id, bind_dn in TargetSystem.objects.exclude(ldap_bind_dn="").values_list(
        "pk", "ldap_bind_dn"
    ):
        own |= Q(target_system_id=target_id, login_id=normalise_login_id(rdn_value(bind_dn)))
    return own


def _rule_unknown_login_id(after: int, upto: int) -> Iterator[dict]:
    issued = _records().filter(valid_from__lte=OuterRef("occurred_at"))
    qs = (
        _new(after, upto)
        .filter(~Exists(issued))
        .exclude(_service_binds())
        .annotate(target_code=F("target_system__code"), target_name=F("target_system__name"))
    )
    fields = ("pk", "occurred_at", "login_id", "line_number", "ingestion_id", "target_code")
    nobody = dict.fromkeys(("account_ref", "terminal_ref", "asset_tag", "loan_ref", "contractor"))
    for row in qs.values(*fields, "result", "target_name").order_by("pk").iterator(BATCH):
        yield _finding(
            {**row, **nobody},
            result=row["result"],
            expected=EXPECTED_ISSUED_ID(target=row["target_name"]),
        )


def _rule_failure_burst(after: int, upto: int) -> Iterator[dict]:
    threshold = max(settings.ACCESS_LOG_FAILURE_BURST_THRESHOLD, 2)
    window = timedelta(seconds=settings.ACCESS_LOG_FAILURE_BURST_SECONDS)
    failures = SignInEvent.objects.filter(result=SignInResult.FAILURE)
    same_key = failures.filter(
        target_system=OuterRef("target_system"), login_id=OuterRef("login_id")
    )

    def in_window_ending(moment: str):
        # The failures (of the outer row's key) in (moment - window, moment].
        return same_key.filter(
            occurred_at__gt=OuterRef(moment) - window, occurred_at__lte=OuterRef(moment)
        )

    def count(qs):
        return Coalesce(
            Subquery(qs.order_by().values("login_id").annotate(n=Count("pk")).values("n")[:1]),
            0,
        )

    # The failure just before each one (same key), to tell a burst's first trigger.
    before = same_key.filter(
        Q(occurred_at__lt=OuterRef("occurred_at"))
        | Q(occurred_at=OuterRef("occurred_at"), pk__lt=OuterRef("pk"))
    ).order_by("-occurred_at", "-pk")
    # A new failure changes the count of those in the window after it, not of others.
    touched = _new(after, upto).filter(
        result=SignInResult.FAILURE,
        target_system=OuterRef("target_system"),
        login_id=OuterRef("login_id"),
        occurred_at__lte=OuterRef("occurred_at"),
        occurred_at__gte=OuterRef("occurred_at") - window,
    )
    first_of_window = in_window_ending("occurred_at").order_by("occurred_at", "pk")
    qs = (
        failures.filter(Exists(touched))
        .annotate(n=count(in_window_ending("occurred_at")))
        .filter(n__gte=threshold)
        .annotate(previous_at=Subquery(before.values("occurred_at")[:1]))
        .annotate(previous_n=count(in_window_ending("previous_at")))
        .filter(Q(previous_at__isnull=True) | Q(previous_n__lt=threshold))
        .annotate(
            first_id=Subquery(first_of_window.values("pk")[:1]),
            target_code=F("target_system__code"),
        )
    )
    rows = list(qs.values("pk", "first_id", "n", "target_code", "login_id").order_by("pk"))
    firsts = SignInEvent.objects.in_bulk([row["first_id"] for row in rows])
    for row in rows:
        first = firsts[row["first_id"]]
        yield {
            "subject": f"burst:{row['target_code']}:{row['login_id']}:{first.pk}",
            "sign_in_id": first.pk,
            "account_id": None,
            "terminal_id": None,
            "loan_id": None,
            "details": {
                "target_system": row["target_code"],
                "login_id": row["login_id"],
                "line": first.line_number,
                "ingestion": first.ingestion_id,
                "first_failure_at": first.occurred_at.isoformat(),
                "trigger_sign_in": row["pk"],
                "failures": row["n"],
                "window_seconds": settings.ACCESS_LOG_FAILURE_BURST_SECONDS,
                "expected": EXPECTED_FEW_FAILURES(
                    threshold=threshold, seconds=settings.ACCESS_LOG_FAILURE_BURST_SECONDS
                ).stored(),
            },
        }


def _finding(row: dict, *, expected, **extra) -> dict:
    """A finding about one sign-in, as the rows of the rules read it."""
    details = {
        "target_system": row["target_code"],
        "login_id": row["login_id"],
        "line": row["line_number"],
        "ingestion": row["ingestion_id"],
        "occurred_at": row["occurred_at"].isoformat(),
        "terminal": row["asset_tag"],
        "loan": row["loan_ref"],
        "contractor": row["contractor"],
        **extra,
        "expected": expected.stored(),
    }
    return {
        "subject": f"sign-in:{row['pk']}",
        "sign_in_id": row["pk"],
        "account_id": row["account_ref"],
        "terminal_id": row["terminal_ref"],
        "loan_id": row["loan_ref"],
        "details": {key: value for key, value in details.items() if value is not None},
    }


# The rules on PostgreSQL: one set-based pass ------------------------------------------------------

# One row per new successful sign-in with a login ID valid at its moment: the record's account and
# terminal, the loan covering the moment (if any) and the terminal's status then ('' with no
# movement yet), each looked up once, for rules 1, 7, 4 and 3 to read with plain joins. The
# look-ups read compact copies of the records, the loans and the movements, each indexed in the
# order of its look-up (latest first), so that each is one short index scan with no sort.
# Temporary tables, dropped at the end of the analysis (or of its transaction).
_JUDGED = "access_log_judged"
_COPIES = {
    "access_log_ids": (
        "SELECT r.id, r.login_id, a.target_system_id, r.valid_from, r.valid_until, r.account_id,"
        " a.terminal_id FROM credentials_loginidrecord r"
        " JOIN credentials_account a ON a.id = r.account_id",
        "(login_id, target_system_id, valid_from DESC, id DESC)",
    ),
    "access_log_loans": (
        "SELECT l.id, l.terminal_id, l.checked_out_at, rc.returned_at FROM lending_loan l"
        " LEFT JOIN lending_returnconfirmation rc ON rc.loan_id = l.id"
        " WHERE l.status <> %(abandoned)s",
        "(terminal_id, checked_out_at DESC, id DESC)",
    ),
    "access_log_moves": (
        "SELECT m.id, m.terminal_id, m.occurred_at, m.to_status FROM terminals_movement m",
        "(terminal_id, occurred_at DESC, id DESC)",
    ),
}
_JUDGE_SQL = f"""
CREATE TEMPORARY TABLE {_JUDGED} ON COMMIT DROP AS
SELECT e.id AS sign_in_id, rec.account_id, rec.terminal_id, loan.id AS loan_id,
       COALESCE(move.to_status, '') AS status_then
FROM compliance_signinevent e
CROSS JOIN LATERAL (
    SELECT r.account_id, r.terminal_id
    FROM access_log_ids r
    WHERE r.login_id = e.login_id AND r.target_system_id = e.target_system_id
      AND r.valid_from <= e.occurred_at
      AND (r.valid_until IS NULL OR r.valid_until > e.occurred_at)
    ORDER BY r.valid_from DESC, r.id DESC
    LIMIT 1
) rec
LEFT JOIN LATERAL (
    SELECT l.id
    FROM access_log_loans l
    WHERE l.terminal_id = rec.terminal_id AND l.checked_out_at <= e.occurred_at
      AND (l.returned_at IS NULL OR l.returned_at > e.occurred_at)
    ORDER BY l.checked_out_at DESC, l.id DESC
    LIMIT 1
) loan ON TRUE
LEFT JOIN LATERAL (
    SELECT m.to_status
    FROM access_log_moves m
    WHERE m.terminal_id = rec.terminal_id AND m.occurred_at <= e.occurred_at
    ORDER BY m.occurred_at DESC, m.id DESC
    LIMIT 1
) move ON TRUE
WHERE e.id > %(after)s AND e.id <= %(upto)s AND e.result = %(success)s
"""  # noqa: S608

# The grace (hours) the covering loan's declaration was lifted with; LENDING_GRACE_HOURS for a
# lift with none recorded.
_LIFT_GRACE = "COALESCE(declaration.grace_hours, %(grace_hours)s)"
# What every finding of rules 1, 7, 4 and 3 reads, as _FIELDS and the rule's own columns.
_JUDGED_ROWS = f"""
SELECT e.id AS pk, e.occurred_at, e.login_id, e.line_number, e.ingestion_id,
       target.code AS target_code, j.account_id AS account_ref, j.terminal_id AS terminal_ref,
       t.asset_tag, j.loan_id AS loan_ref, contractor.code AS contractor,
       j.status_then, l.due_at AS due, declaration.lifted_at AS lifted,
       {_LIFT_GRACE} AS lift_grace,
       e.source_host, e.source_address, COALESCE(t.hostname, '') AS hostname
FROM {_JUDGED} j
JOIN compliance_signinevent e ON e.id = j.sign_in_id
JOIN credentials_targetsystem target ON target.id = e.target_system_id
JOIN terminals_terminal t ON t.id = j.terminal_id
LEFT JOIN lending_loan l ON l.id = j.loan_id
LEFT JOIN lending_accessrequest request ON request.id = l.request_id
LEFT JOIN core_organization contractor ON contractor.id = request.contractor_id
LEFT JOIN lending_declaration declaration ON declaration.id = request.declaration_id
WHERE {{condition}}
ORDER BY e.id
"""  # noqa: S608

_NOT_LENT = "j.loan_id IS NULL"
_TERMINAL_NOT_LENT = "j.loan_id IS NOT NULL AND j.status_then <> %(lent)s"
_AFTER_WINDOW = (
    "j.loan_id IS NOT NULL AND j.status_then = %(lent)s"
    " AND (e.occurred_at >= l.due_at"
    f" OR e.occurred_at >= declaration.lifted_at + {_LIFT_GRACE} * INTERVAL '1 hour')"
)
# The first label of a host name, lower case: split_part(lower(...), '.', 1).
_FOREIGN_HOST = """
(e.source_host <> '' OR e.source_address IS NOT NULL)
AND (COALESCE(t.hostname, '') <> ''
     OR EXISTS (SELECT 1 FROM terminals_terminaladdress a WHERE a.terminal_id = j.terminal_id))
AND NOT EXISTS (
    SELECT 1 FROM terminals_terminaladdress a
    WHERE a.terminal_id = j.terminal_id AND a.address = e.source_address
)
AND NOT (
    e.source_host <> '' AND COALESCE(t.hostname, '') <> ''
    AND split_part(lower(e.source_host), '.', 1) = split_part(lower(t.hostname), '.', 1)
)
"""


def _judge_valid_successes(after: int, upto: int) -> None:
    abandoned = LoanStatus.ABANDONED.value
    with connection.cursor() as cursor:
        _drop_judged()
        for table, (query, order) in _COPIES.items():
            cursor.execute(
                f"CREATE TEMPORARY TABLE {table} ON COMMIT DROP AS {query}",
                {"abandoned": abandoned},
            )
            cursor.execute(f"CREATE INDEX ON {table} {order}")
            cursor.execute(f"ANALYZE {table}")
        cursor.execute(
            _JUDGE_SQL,
            {"after": after, "upto": upto, "success": SignInResult.SUCCESS.value},
        )
        cursor.execute(f"ANALYZE {_JUDGED}")


def _drop_judged() -> None:
    with connection.cursor() as cursor:
        for table in (_JUDGED, *_COPIES):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")


def _judged(condition: str, *, pass_over: tuple[int, int] | None = None) -> Iterator[dict]:
    """The rows of the pass meeting `condition`, in sign-in order, read in batches; the pass is
    made first over the sign-ins of `pass_over` (after, upto) if given."""
    if pass_over is not None:
        _judge_valid_successes(*pass_over)
    params: dict[str, Any] = {
        "lent": TerminalStatus.LENT.value,
        "grace_hours": settings.LENDING_GRACE_HOURS,
    }
    with connection.cursor() as cursor:
        cursor.execute(_JUDGED_ROWS.format(condition=condition), params)
        columns = [column.name for column in cursor.description]
        while chunk := cursor.fetchmany(BATCH):
            yield from (dict(zip(columns, values, strict=True)) for values in chunk)


# Recording ------------------------------------------------------------------------------------


def _record(kind: str, rows: Iterable[dict], *, actor: User | None) -> int:
    """Insert the findings in batches, those already found left out by the unique constraint,
    and write an audit event for each one new. Returns how many were new."""
    assert kind in SIGN_IN_KINDS
    recorded = 0
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            recorded += _record_batch(kind, batch, actor=actor)
            batch = []
    if batch:
        recorded += _record_batch(kind, batch, actor=actor)
    return recorded


def _record_batch(kind: str, rows: list[dict], *, actor: User | None) -> int:
    marker = timezone.now()
    Discrepancy.objects.bulk_create(
        [
            Discrepancy(
                kind=kind,
                subject=row["subject"],
                sign_in_id=row["sign_in_id"],
                account_id=row["account_id"],
                terminal_id=row["terminal_id"],
                loan_id=row["loan_id"],
                details=row["details"],
            )
            for row in rows
        ],
        ignore_conflicts=True,
    )
    # Those just inserted (a subject found before kept its earlier opening time).
    created = list(
        Discrepancy.objects.filter(
            kind=kind, subject__in=[row["subject"] for row in rows], opened_at__gte=marker
        ).order_by("pk")
    )
    record_events(
        actor=actor,
        events=[
            (
                "discrepancy.opened",
                discrepancy,
                {
                    "kind": discrepancy.kind,
                    "subject": discrepancy.subject,
                    "sign_in": discrepancy.sign_in_id,
                    "login_id": discrepancy.details.get("login_id"),
                    "target_system": discrepancy.details.get("target_system"),
                    "terminal": discrepancy.details.get("terminal"),
                    "loan": discrepancy.loan_id,
                },
            )
            for discrepancy in created
        ],
    )
    return len(created)


# Reading --------------------------------------------------------------------------------------

# What a sign-in finding's page shows in its own section, not among the other details.
SHOWN_WITH_THE_SIGN_IN = frozenset(
    {
        "target_system", "login_id", "line", "ingestion", "occurred_at", "result",
        "source_host", "source_address", "terminal", "loan", "contractor", "expected",
    }
)  # fmt: skip
# Details that are moments (ISO 8601), shown in the reader's time zone.
MOMENTS = frozenset({"due_at", "lifted_at", "valid_until", "first_failure_at"})


def expected_instead(discrepancy: Discrepancy) -> str:
    """What a sign-in finding says was expected instead, in the reader's language."""
    expected = discrepancy.details.get("expected")
    return describe(expected) if is_stored_phrase(expected) else ""
