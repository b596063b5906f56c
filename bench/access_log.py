"""Access-log ingestion and analysis at scale, on PostgreSQL: a year of disaster lending over
10,000 accounts, a CSV log of 2,000,000 sign-ins with a known number of planted anomalies of
each kind the rules find, ingested through `manage.py ingest_access_log` and analysed through
`compliance.access_log_rules.access_log_analyse`, next to a floor measured in the same run:
Python's csv module reading the same file and doing nothing else.

    .venv/bin/python bench/access_log.py [--lines 200000] [--accounts 10000] [--per-kind N]
                                         [--analysis-timeout 1800]

Each measured step runs in a child process of its own, so that its peak RSS (VmHWM, reported
by the child at its exit) is its own: the floor, the command, the analysis. The README's
figures use --lines 2000000. Everything it needs is its own and gone
afterwards: a temporary folder with a throwaway PostgreSQL 15 cluster (fsync off) on a free
loopback port. With DATABASE_URL set it uses that PostgreSQL database instead, and empties it
before and after: it refuses a database whose name does not contain "bench". Exits 1 when the
ingestion's counts or the findings per kind differ from what the bench planted.
"""

import argparse
import base64
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import random
import secrets
import string
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Run as a script, Python puts bench/ on the path, not the project.
sys.path.insert(0, str(REPO))
from bench.support import (  # noqa: E402  (after the path is set)
    BenchError,
    PostgresCluster,
    free_port,
    migrate_bench_database,
    run_in_own_folder,
)

DATABASE_NAME = "nwterm_bench_access_log"
SEED = 20261111
TARGET = "bench"
BATCH = 5000  # rows per bulk insert in the build
YEAR_START = dt.datetime(2025, 11, 1, tzinfo=dt.UTC)
DECLARATIONS = 12  # one a month
LENT_SHARE = 0.4  # of the terminals, per declaration
CONTRACTORS = 5
CHECKOUT_DELAY = dt.timedelta(seconds=30)  # reserved at checked_out_at, lent 30 s later
ROTATION_DELAY = dt.timedelta(minutes=5)  # after a return, the new login ID
SETTLE_DELAY = dt.timedelta(minutes=6)  # after a return, back in storage
LOST_ROTATION_DELAY = dt.timedelta(hours=6)  # a lost terminal's target did not answer at once
DUE_AFTER = dt.timedelta(days=10)
OVERDUE_DUE_AFTER = dt.timedelta(days=2)
MARGIN = dt.timedelta(minutes=5)  # normal sign-ins keep this far from a window's edges
TOKYO = dt.timezone(dt.timedelta(hours=9))
ID_ALPHABET = string.ascii_lowercase + string.digits
# The kinds the rules find (compliance.models.DiscrepancyKind), in the rules module's order.
KINDS = (
    "sign_in_not_lent",
    "sign_in_terminal_not_lent",
    "sign_in_after_window",
    "sign_in_foreign_host",
    "sign_in_old_login_id",
    "sign_in_unknown_login_id",
    "sign_in_failure_burst",
)
BURST_FAILURES = 6
BURST_STEP = 20  # seconds between a burst's failures
# Issue #11's goals, printed next to the figures (not a pass/fail: the machine is shared).
GOAL_INGEST_RATIO = 0.5
GOAL_ANALYSIS_SECONDS = 60
GOAL_RSS_MB = 200

# Every child runs through this: at its exit it writes its peak RSS (VmHWM, kB) to the file
# named first. ru_maxrss from wait4 would not do: it counts the bench process's own memory,
# which the child had until its exec.
MEASURED = """
import atexit, runpy, sys
from pathlib import Path
report = sys.argv[1]
def peak():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            Path(report).write_text(line.split()[1])
atexit.register(peak)
if sys.argv[2] == "-c":
    code = sys.argv[3]
    sys.argv = ["-c", *sys.argv[4:]]
    exec(compile(code, "<child>", "exec"), {"__name__": "__main__"})
else:
    sys.argv = sys.argv[2:]
    runpy.run_path(sys.argv[0], run_name="__main__")
"""

FLOOR_CODE = """
import csv, sys
with open(sys.argv[1], newline="", encoding="utf-8") as file:
    rows = sum(1 for _row in csv.reader(file))
print(rows)
"""

ANALYSIS_CODE = """
import json, time
import django
django.setup()
from compliance import access_log_rules
from compliance.access_log_rules import access_log_analyse
# Each rule's time: its query, read to the end, and the recording of what it found.
per_rule = {}
record = access_log_rules._record
def timed(kind, rows, **kwargs):
    start = time.perf_counter()
    try:
        return record(kind, rows, **kwargs)
    finally:
        per_rule[kind] = time.perf_counter() - start
access_log_rules._record = timed
start = time.perf_counter()
analysis = access_log_analyse()
print(json.dumps({"seconds": time.perf_counter() - start, "events": analysis.events,
                  "findings": analysis.findings, "per_rule": per_rule}))
"""


# Environment ----------------------------------------------------------------------------------


def prepare_environment(folder: Path) -> bool:
    """The settings of the bench process and its children. Returns whether the database is the
    caller's."""
    import dj_database_url

    external = "DATABASE_URL" in os.environ
    if external:
        parsed = dj_database_url.parse(os.environ["DATABASE_URL"])
        name = str(parsed["NAME"] or "")
        if "postgresql" not in parsed["ENGINE"]:
            raise BenchError("DATABASE_URL must name a PostgreSQL database")
        if "bench" not in name:
            raise BenchError(
                f"DATABASE_URL names the database {name!r}; the bench empties its database, so "
                'it only runs on one whose name contains "bench"'
            )
    for name in ("REDIS_URL", "DEBUG"):
        os.environ.pop(name, None)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        APP_ENV="development",
        DATA_DIR=str(folder / "data"),
        CELERY_TASK_ALWAYS_EAGER="true",
        CREDENTIAL_KEYS=f"bench:{base64.b64encode(secrets.token_bytes(32)).decode()}",
        SECRET_KEY=secrets.token_urlsafe(50),
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        LOG_LEVEL="WARNING",
    )
    return external


def machine_description(cluster: PostgresCluster | None, load_at_start: float) -> list[str]:
    from django.db import connection

    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        database = cursor.fetchone()[0].split(" on ")[0]
        cursor.execute("SHOW shared_buffers")
        buffers = cursor.fetchone()[0]
    where = (
        "own cluster on loopback, fsync and synchronous_commit off"
        if cluster
        else "the database of DATABASE_URL"
    )
    return [
        f"date:     {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"machine:  nproc {len(os.sched_getaffinity(0))}, {cpu}, "
        f"load average {load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
        "(other work on the machine)",
        f"software: Python {platform.python_version()}, "
        f"Django {importlib.metadata.version('django')}, "
        f"psycopg {importlib.metadata.version('psycopg')}",
        f"database: {database} ({where}, shared_buffers {buffers})",
    ]


# The world ------------------------------------------------------------------------------------


@dataclass
class LoanPlan:
    index: int
    terminal: int
    declaration: int
    checked_out_at: dt.datetime
    due_at: dt.datetime
    returned_at: dt.datetime | None  # None: lost
    lost_at: dt.datetime | None
    login_id: str  # valid through the loan
    next_login_id: str  # after the rotation that followed it
    rotated_at: dt.datetime
    overdue: bool = False
    pk: int = 0

    def window(self, lifted_at: dt.datetime, grace: dt.timedelta) -> tuple[int, int]:
        """The seconds (epoch) where a normal sign-in may fall: lent, covered, within the due
        time and the lift plus grace, and before a return or a loss."""
        end = min(self.due_at, lifted_at + grace)
        end = min(end, self.lost_at or self.returned_at or end)
        start = self.checked_out_at + CHECKOUT_DELAY + MARGIN
        return int(start.timestamp()), int((end - MARGIN).timestamp())


@dataclass
class World:
    accounts: int
    hostnames: list[str]
    addresses: list[str]
    loans: list[LoanPlan]
    lifted: list[dt.datetime]
    grace: dt.timedelta
    notes: list[str] = field(default_factory=list)


def new_login_id(rng: random.Random, used: set[str]) -> str:
    while True:
        login_id = "nw" + "".join(rng.choices(ID_ALPHABET, k=8))
        if login_id not in used:
            used.add(login_id)
            return login_id


def plan_world(accounts: int, per_kind: int, grace: dt.timedelta) -> tuple[World, dict]:
    """The year, planned with a fixed seed: declarations, loans, rotations; which loans carry
    the anomalies of rules 4 (overdue) and 7 (lost while the rotation waited)."""
    rng = random.Random(SEED)
    used: set[str] = set()
    current = [new_login_id(rng, used) for _ in range(accounts)]
    declared, lifted, loans = [], [], []
    lost_terminals: set[int] = set()
    for number in range(DECLARATIONS):
        start = YEAR_START + dt.timedelta(days=30 * number, seconds=rng.randint(0, 5 * 86400))
        lifted_at = start + dt.timedelta(seconds=rng.randint(2 * 86400, 6 * 86400))
        declared.append(start)
        lifted.append(lifted_at)
        chosen = rng.sample(range(accounts), int(accounts * LENT_SHARE))
        for terminal in sorted(chosen):
            if terminal in lost_terminals:
                continue
            checked_out = start + dt.timedelta(seconds=rng.randint(3600, 12 * 3600))
            returned = lifted_at + dt.timedelta(seconds=rng.randint(-12 * 3600, 6 * 3600))
            returned = max(returned, checked_out + dt.timedelta(hours=6))
            loans.append(
                LoanPlan(
                    index=len(loans),
                    terminal=terminal,
                    declaration=number,
                    checked_out_at=checked_out,
                    due_at=checked_out + DUE_AFTER,
                    returned_at=returned,
                    lost_at=None,
                    login_id=current[terminal],
                    next_login_id="",
                    rotated_at=returned + ROTATION_DELAY,
                )
            )
    last = [loan for loan in loans if loan.declaration == DECLARATIONS - 1]
    earlier = [loan for loan in loans if loan.declaration < DECLARATIONS - 1]
    for loan in rng.sample(last, per_kind):  # rule 7: lost, rotation delayed
        loan.lost_at = loan.checked_out_at + dt.timedelta(seconds=rng.randint(6 * 3600, 86400))
        loan.returned_at = None
        loan.rotated_at = loan.lost_at + LOST_ROTATION_DELAY
        lost_terminals.add(loan.terminal)
    for loan in rng.sample(earlier, per_kind):  # rule 4: kept past its due time
        loan.overdue = True
        loan.due_at = loan.checked_out_at + OVERDUE_DUE_AFTER
        loan.returned_at = max(loan.due_at, lifted[loan.declaration] + grace) + dt.timedelta(days=2)
        loan.rotated_at = loan.returned_at + ROTATION_DELAY
    # Rotations in time order per terminal: each loan's ID, then the next one.
    for loan in sorted(loans, key=lambda loan: loan.checked_out_at):
        loan.login_id = current[loan.terminal]
        loan.next_login_id = current[loan.terminal] = new_login_id(rng, used)
    world = World(
        accounts=accounts,
        hostnames=[f"nwpc-{n:05d}" for n in range(accounts)],
        addresses=[f"10.1.{n // 256}.{n % 256}" for n in range(accounts)],
        loans=loans,
        lifted=lifted,
        grace=grace,
    )
    return world, {"declared": declared, "current": current, "used": used}


def build_world(world: World, extra: dict) -> None:
    """The rows the services would have written for that year, bulk-inserted: terminals with
    host names and addresses, accounts and every login ID's validity period, declarations,
    approved requests, loans with their returns, and each terminal's movements (reserved, lent,
    returned, in storage; lost). No secrets, reveals or audit events: the rules read none."""
    from django.db import transaction

    from core.models import Organization
    from core.roles import Role
    from core.services import organization_create, user_create
    from credentials.models import Account, AccountState, LoginIdRecord
    from credentials.targets import target_system_create
    from lending.models import (
        AccessRequest,
        Declaration,
        DeclarationStatus,
        Loan,
        LoanStatus,
        RequestStatus,
        ReturnConfirmation,
    )
    from terminals.models import Movement, Terminal, TerminalAddress, TerminalStatus
    from terminals.services import location_create

    operator = organization_create(
        actor=None,
        code="al-operator",
        name="Bench operator",
        kind=Organization.Kind.NETWORK_OPERATOR,
    )
    contractors = [
        organization_create(
            actor=None, code=f"al-contractor-{n}", name=f"Contractor {n}",
            kind=Organization.Kind.CONTRACTOR,
        )
        for n in range(CONTRACTORS)
    ]  # fmt: skip
    counter = user_create(
        actor=None, username="al-counter", role=Role.FACILITIES,
        password=secrets.token_urlsafe(18), organization=operator,
    )  # fmt: skip
    site = location_create(
        actor=None, code="al-site", name="Bench site", kind="site", custodian=operator,
        secured=True,
    )  # fmt: skip
    target = target_system_create(actor=None, code=TARGET, name="Bench", connector="local")
    created = YEAR_START - dt.timedelta(days=30)
    lost = {loan.terminal for loan in world.loans if loan.lost_at}
    last_rotation = {loan.terminal: loan.rotated_at for loan in world.loans}
    movement_time = Movement._meta.get_field("occurred_at")
    movement_time.auto_now_add = False  # the bench writes the history's own times
    try:
        with transaction.atomic():
            terminals = Terminal.objects.bulk_create(
                (
                    Terminal(
                        asset_tag=f"AL-{n:05d}",
                        hostname=world.hostnames[n],
                        location=site,
                        custodian=operator,
                        status=TerminalStatus.LOST if n in lost else TerminalStatus.IN_STORAGE,
                    )
                    for n in range(world.accounts)
                ),
                batch_size=BATCH,
            )
            TerminalAddress.objects.bulk_create(
                (
                    TerminalAddress(terminal=terminals[n], address=world.addresses[n])
                    for n in range(world.accounts)
                ),
                batch_size=BATCH,
            )
            accounts = Account.objects.bulk_create(
                (
                    Account(
                        target_system=target,
                        terminal=terminals[n],
                        login_id=extra["current"][n],
                        state=AccountState.LOCKED,
                        rotated_at=last_rotation.get(n),
                    )
                    for n in range(world.accounts)
                ),
                batch_size=BATCH,
            )
            declarations = Declaration.objects.bulk_create(
                Declaration(
                    title=f"Bench disaster {n + 1}",
                    status=DeclarationStatus.CLOSED,
                    declared_at=extra["declared"][n],
                    declared_by=counter,
                    lifted_at=world.lifted[n],
                    lifted_by=counter,
                    closed_at=world.lifted[n] + dt.timedelta(days=7),
                    closed_by=counter,
                )
                for n in range(DECLARATIONS)
            )
            Declaration.sites.through.objects.bulk_create(
                Declaration.sites.through(declaration=d, location=site) for d in declarations
            )
            per_request = Counter(
                (loan.declaration, loan.index % CONTRACTORS) for loan in world.loans
            )
            requests = {
                key: AccessRequest(
                    declaration=declarations[key[0]],
                    contractor=contractors[key[1]],
                    submitted_by=counter,
                    work_site="Bench work site",
                    quantity=min(count, 32000),
                    purpose="Disaster recovery",
                    needed_until=world.lifted[key[0]] + dt.timedelta(days=3),
                    status=RequestStatus.APPROVED,
                    decided_by=counter,
                    decided_at=extra["declared"][key[0]],
                )
                for key, count in per_request.items()
            }
            AccessRequest.objects.bulk_create(requests.values())
            made = Loan.objects.bulk_create(
                (
                    Loan(
                        request=requests[(loan.declaration, loan.index % CONTRACTORS)],
                        terminal=terminals[loan.terminal],
                        status=LoanStatus.LOST if loan.lost_at else LoanStatus.RETURNED,
                        work_site="Bench work site",
                        operator_name=f"Operator {loan.index}",
                        handed_out_by=counter,
                        checked_out_at=loan.checked_out_at,
                        due_at=loan.due_at,
                        acknowledgement_text="Bench acknowledgement",
                        acknowledged_name=f"Operator {loan.index}",
                        acknowledged_at=loan.checked_out_at,
                    )
                    for loan in world.loans
                ),
                batch_size=BATCH,
            )
            for loan, row in zip(world.loans, made, strict=True):
                loan.pk = row.pk
            ReturnConfirmation.objects.bulk_create(
                (
                    ReturnConfirmation(
                        loan_id=loan.pk,
                        returned_at=loan.returned_at,
                        condition="ok",
                        return_location=site,
                        handed_back_by=f"Operator {loan.index}",
                        operator_signature=f"Operator {loan.index}",
                        received_by=counter,
                        data_disposition="none_obtained",
                        settled_at=loan.returned_at + SETTLE_DELAY,
                    )
                    for loan in world.loans
                    if loan.returned_at
                ),
                batch_size=BATCH,
            )
            Movement.objects.bulk_create(
                (
                    Movement(
                        terminal=terminals[n],
                        occurred_at=created,
                        to_location=site,
                        to_status=TerminalStatus.IN_STORAGE,
                    )
                    for n in range(world.accounts)
                ),
                batch_size=BATCH,
            )
            Movement.objects.bulk_create(movements(world, terminals, site), batch_size=BATCH)
            LoginIdRecord.objects.bulk_create(
                login_id_records(world, accounts, created), batch_size=BATCH
            )
    finally:
        movement_time.auto_now_add = True


def movements(world: World, terminals: list, site):
    from terminals.models import Movement, TerminalStatus

    S = TerminalStatus
    for loan in world.loans:
        terminal = terminals[loan.terminal]
        steps = [
            (loan.checked_out_at, S.IN_STORAGE, S.RESERVED),
            (loan.checked_out_at + CHECKOUT_DELAY, S.RESERVED, S.LENT),
        ]
        if loan.lost_at:
            steps.append((loan.lost_at, S.LENT, S.LOST))
        else:
            steps += [
                (loan.returned_at, S.LENT, S.RETURNED),
                (loan.returned_at + SETTLE_DELAY, S.RETURNED, S.IN_STORAGE),
            ]
        for moment, before, after in steps:
            yield Movement(terminal=terminal, occurred_at=moment, from_location=site,
                           to_location=site, from_status=before, to_status=after)  # fmt: skip


def login_id_records(world: World, accounts: list, created: dt.datetime):
    from credentials.models import LoginIdRecord

    by_terminal: dict[int, list[LoanPlan]] = {}
    for loan in world.loans:
        by_terminal.setdefault(loan.terminal, []).append(loan)
    for n, account in enumerate(accounts):
        valid_from = created
        for loan in sorted(by_terminal.get(n, []), key=lambda loan: loan.checked_out_at):
            yield LoginIdRecord(
                account=account,
                login_id=loan.login_id,
                valid_from=valid_from,
                valid_until=loan.rotated_at,
            )
            valid_from = loan.rotated_at
        yield LoginIdRecord(account=account, login_id=account.login_id, valid_from=valid_from)


# The log --------------------------------------------------------------------------------------


@dataclass
class Log:
    path: Path
    lines: int  # data lines, the header not counted
    events: int  # distinct well-formed lines: what ingestion accepts
    duplicates: int
    malformed: int
    planted: dict[str, int]


def stamp(seconds: int, utc: bool) -> str:
    if utc:
        return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")
    return dt.datetime.fromtimestamp(seconds, TOKYO).isoformat()


def write_log(world: World, extra: dict, path: Path, total: int, per_kind: int) -> Log:
    """Normal disaster use (sign-ins from the lent terminal with the login ID of its loan, now
    and then one failure), plus `per_kind` anomalies of each kind, each made to meet exactly one
    rule, plus some malformed lines and repeated lines; in time order within each month."""
    rng = random.Random(SEED + 1)
    grace = world.grace
    anomalies: dict[int, list[tuple[int, str]]] = {n: [] for n in range(DECLARATIONS)}
    planted = Counter()

    def add(kind: str, loan_or_month, seconds: int, login_id: str, result: str, host: str,
            address: str) -> None:  # fmt: skip
        month = loan_or_month if isinstance(loan_or_month, int) else loan_or_month.declaration
        anomalies[month].append(
            (seconds, f"{stamp(seconds, False)},{login_id},{result},{host},{address}")
        )
        planted[kind] += 1 if kind != "burst-line" else 0

    normal = [loan for loan in world.loans if not loan.lost_at and not loan.overdue]
    earlier = [loan for loan in normal if loan.declaration < DECLARATIONS - 1]
    pool = rng.sample(earlier, 4 * per_kind)
    not_lent, old_id, foreign, burst = (pool[i * per_kind : (i + 1) * per_kind] for i in range(4))
    for loan in not_lent:  # 1: the current ID, own terminal, in storage between two loans
        t = int(loan.returned_at.timestamp()) + rng.randint(86400, 3 * 86400)
        n = loan.terminal
        add(KINDS[0], loan, t, loan.next_login_id, "success", world.hostnames[n],
            world.addresses[n])  # fmt: skip
    for loan in (loan for loan in world.loans if loan.lost_at):  # 7: lost, ID still valid
        t = int(loan.lost_at.timestamp()) + rng.randint(
            600, int(LOST_ROTATION_DELAY.total_seconds()) - 600
        )
        n = loan.terminal
        add(KINDS[1], loan, t, loan.login_id, "success", world.hostnames[n], world.addresses[n])
    for loan in (loan for loan in world.loans if loan.overdue):  # 4: past the due time
        edge = max(loan.due_at, world.lifted[loan.declaration] + grace)
        t = int(edge.timestamp()) + rng.randint(3600, 47 * 3600)
        n = loan.terminal
        add(KINDS[2], loan, t, loan.login_id, "success", world.hostnames[n], world.addresses[n])
    for i, loan in enumerate(foreign):  # 3: during the loan, from a shop's PC
        start, end = loan.window(world.lifted[loan.declaration], grace)
        add(KINDS[3], loan, rng.randint(start, end), loan.login_id, "success",
            f"shop-pc-{i:03d}.retail.example", f"198.51.100.{i % 250 + 1}")  # fmt: skip
    for i, loan in enumerate(old_id):  # 2: the ID rotated away at the return, days later
        t = int(loan.returned_at.timestamp()) + rng.randint(86400, 3 * 86400)
        n = loan.terminal
        add(KINDS[4], loan, t, loan.login_id, "success" if i % 2 else "failure",
            world.hostnames[n], world.addresses[n])  # fmt: skip
    for i in range(per_kind):  # 6: an ID never issued (a retail employee's own)
        month = rng.randrange(DECLARATIONS)
        t = int(extra["declared"][month].timestamp()) + rng.randint(0, 86400)
        add(KINDS[5], month, t, f"retail{i:04d}", "success", f"shop-pc-{i:03d}", "")
    for loan in burst:  # 5: six failures in 100 s with the loan's own ID (odd loans only)
        start, end = loan.window(world.lifted[loan.declaration], grace)
        t = rng.randint(start, end - BURST_FAILURES * BURST_STEP)
        n = loan.terminal
        for k in range(BURST_FAILURES):
            add("burst-line", loan, t + k * BURST_STEP, loan.login_id, "failure",
                world.hostnames[n], world.addresses[n])  # fmt: skip
        planted[KINDS[6]] += 1
    burst_loans = {loan.index for loan in burst}

    anomaly_lines = sum(len(lines) for lines in anomalies.values())
    malformed = max(1, total // 10_000)
    duplicates = max(1, total // 2_000)
    normal_lines = total - anomaly_lines - malformed - duplicates
    if normal_lines < len(world.loans):
        raise BenchError(
            f"--lines {total} is too few for {len(world.loans)} loans and {anomaly_lines} anomalies"
        )
    base, extra_lines = divmod(normal_lines, len(world.loans))
    written = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("time,login_id,result,host,address\n")
        for month in range(DECLARATIONS):
            lines = list(anomalies[month])
            for loan in (loan for loan in world.loans if loan.declaration == month):
                k = base + (1 if loan.index < extra_lines else 0)
                start, end = loan.window(world.lifted[month], grace)
                n = loan.terminal
                host, address, fqdn = world.hostnames[n], world.addresses[n], ""
                # Failures only on loans without a planted burst, one each: never a burst.
                fail_at = 0 if loan.index % 2 == 0 and loan.index not in burst_loans else -1
                for j, t in enumerate(sorted(rng.sample(range(start, end), k))):
                    shape = (t + n) % 5
                    if shape == 3:
                        fqdn, addr = f"{host}.grid.example.jp", ""
                    elif shape == 4:
                        fqdn, addr = "", address
                    else:
                        fqdn, addr = host, address
                    result = "failure" if j == fail_at else "success"
                    lines.append(
                        (t, f"{stamp(t, shape == 2)},{loan.login_id},{result},{fqdn},{addr}")
                    )
            lines.sort()
            bad = malformed // DECLARATIONS + (malformed % DECLARATIONS if month == 0 else 0)
            again = duplicates // DECLARATIONS + (duplicates % DECLARATIONS if month == 0 else 0)
            lines += [lines[i] for i in rng.sample(range(len(lines)), again)]
            for _ in range(bad):
                at = rng.randrange(len(lines) + 1)
                lines.insert(at, (0, f"yesterday,nwbad{rng.randrange(10**6)},success,,"))
            out.writelines(line + "\n" for _t, line in lines)
            written += len(lines)
    return Log(
        path=path,
        lines=written,
        events=written - malformed - duplicates,
        duplicates=duplicates,
        malformed=malformed,
        planted={kind: planted[kind] for kind in KINDS},
    )


# Measuring ------------------------------------------------------------------------------------


@dataclass
class Child:
    seconds: float
    peak_rss_mb: float
    stdout: str
    returncode: int | None  # None: killed at its time limit


def run_child(args: list[str], timeout: float | None = None) -> Child:
    """Run `python ARGS` in a child process to its end (or kill it at `timeout`); its wall time
    and its peak RSS as it reported it (VmHWM)."""
    out = Path(os.environ["DATA_DIR"]) / f"child-{time.monotonic_ns()}.out"
    err, peak = out.with_suffix(".err"), out.with_suffix(".peak")
    args = [sys.executable, "-c", MEASURED, str(peak), *args]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(args, cwd=REPO, stdout=stdout, stderr=stderr)  # noqa: S603
        deadline = None if timeout is None else start + timeout
        killed = False
        while True:
            pid, status, _usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline and not killed:
                process.kill()
                killed = True
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode and not killed:
        stderr = err.read_text(errors="replace")[-3000:]
        raise BenchError(f"{' '.join(args[:3])} ... exited {process.returncode}:\n{stderr}")
    return Child(
        seconds=seconds,
        peak_rss_mb=int(peak.read_text()) / 1024 if peak.exists() else float("nan"),
        stdout=out.read_text(errors="replace"),
        returncode=None if killed else process.returncode,
    )


def store_floor() -> float:
    """Seconds to store the rows the ingestion stored, already parsed, into a copy of the
    sign-in table (its indexes, checks and deferred foreign keys): one INSERT ... SELECT ... ON
    CONFLICT DO NOTHING and its commit. What the database alone costs, whoever parses."""
    from django.db import connection, transaction

    from compliance.models import SignInEvent

    table = SignInEvent._meta.db_table
    columns = (
        "target_system_id, ingestion_id, received_at, occurred_at, login_id, result, "
        "source_host, source_address, line_number, raw_line, fingerprint"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE bench_store_floor (LIKE {table} INCLUDING ALL)")
        cursor.execute(
            "ALTER TABLE bench_store_floor"
            " ADD FOREIGN KEY (ingestion_id) REFERENCES compliance_accesslogingestion (id)"
            " DEFERRABLE INITIALLY DEFERRED,"
            " ADD FOREIGN KEY (target_system_id) REFERENCES credentials_targetsystem (id)"
            " DEFERRABLE INITIALLY DEFERRED"
        )
        start = time.perf_counter()
        with transaction.atomic():
            cursor.execute(
                f"INSERT INTO bench_store_floor ({columns}) SELECT {columns} FROM {table} "  # noqa: S608
                "ORDER BY id ON CONFLICT (target_system_id, fingerprint) DO NOTHING"
            )
        seconds = time.perf_counter() - start
        cursor.execute("DROP TABLE bench_store_floor")
    return seconds


def fmt_rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>12,.0f}" if seconds else f"{'-':>12}"


def run(args, folder: Path) -> int:
    began, load_at_start = time.perf_counter(), os.getloadavg()[0]
    (folder / "data").mkdir()
    external = prepare_environment(folder)
    per_kind = args.per_kind or max(2, min(100, args.lines // 20_000))
    with contextlib.ExitStack() as stack:
        cluster = None
        if not external:
            cluster = stack.enter_context(PostgresCluster(folder, free_port(), DATABASE_NAME))
            os.environ["DATABASE_URL"] = cluster.url

        import django

        django.setup()
        from django.conf import settings
        from django.db import connection

        from compliance.models import AccessLogIngestion, Discrepancy, SignInEvent

        migrate_bench_database(stack, external=external)
        stack.callback(connection.close)

        start = time.perf_counter()
        grace = dt.timedelta(hours=settings.LENDING_GRACE_HOURS)
        world, extra = plan_world(args.accounts, per_kind, grace)
        build_world(world, extra)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        built = time.perf_counter() - start
        start = time.perf_counter()
        log = write_log(world, extra, folder / "signins.csv", args.lines, per_kind)
        written = time.perf_counter() - start
        size_mb = log.path.stat().st_size / 1e6
        print(f"built in {built:.1f} s, log written in {written:.1f} s", file=sys.stderr)
        connection.close()  # the children have the database to themselves

        floor = run_child(["-c", FLOOR_CODE, str(log.path)])
        floor_rows = int(floor.stdout.strip())
        print(f"floor: {floor.seconds:.1f} s", file=sys.stderr)
        ingest = run_child(["manage.py", "ingest_access_log", str(log.path), "--target", TARGET])
        print(f"ingest: {ingest.seconds:.1f} s", file=sys.stderr)
        ingestion = AccessLogIngestion.objects.get()
        stored = SignInEvent.objects.count()
        storing = store_floor()
        print(f"storing alone: {storing:.1f} s", file=sys.stderr)
        with connection.cursor() as cursor:  # as autovacuum would, after 2M inserts
            cursor.execute(f"ANALYZE {SignInEvent._meta.db_table}")
        connection.close()
        analysis = run_child(["-c", ANALYSIS_CODE], timeout=args.analysis_timeout)
        print(f"analysis: {analysis.seconds:.1f} s", file=sys.stderr)
        found = Counter(Discrepancy.objects.filter(kind__in=KINDS).values_list("kind", flat=True))
        machine = machine_description(cluster, load_at_start)

    lines_read = ingestion.lines_read
    floor_rate = floor_rows / floor.seconds
    ingest_rate = lines_read / ingest.seconds
    ratio = ingest_rate / floor_rate
    finished = analysis.returncode is not None
    inner = json.loads(analysis.stdout) if finished else {}
    header = f"{'step':<44}{'seconds':>9}{'lines or events/s':>19}{'peak RSS MB':>13}"
    out = [
        "",
        "Access-log benchmark (issue #11)",
        *machine,
        f"log:      {log.lines + 1:,} lines ({size_mb:.0f} MB) over {args.accounts:,} accounts, "
        f"{len(world.loans):,} loans in {DECLARATIONS} declarations; build {built:.0f} s, "
        f"writing {written:.0f} s (not measured)",
        "",
        header,
        "-" * len(header),
        f"{'floor: csv.reader over the file':<44}{floor.seconds:>9.2f}"
        f"{fmt_rate(floor_rows, floor.seconds):>19}{floor.peak_rss_mb:>13.0f}",
        f"{'ingest: manage.py ingest_access_log':<44}{ingest.seconds:>9.2f}"
        f"{fmt_rate(lines_read, ingest.seconds):>19}{ingest.peak_rss_mb:>13.0f}",
        f"{'  storing alone: INSERT of the parsed rows':<44}{storing:>9.2f}"
        f"{fmt_rate(stored, storing):>19}",
    ]
    if finished:
        out.append(
            f"{'analysis: access_log_analyse()':<44}{analysis.seconds:>9.2f}"
            f"{fmt_rate(inner['events'], analysis.seconds):>19}{analysis.peak_rss_mb:>13.0f}"
        )
        out.append(
            f"{'  of which the call itself':<44}{inner['seconds']:>9.2f}"
            f"{fmt_rate(inner['events'], inner['seconds']):>19}"
        )
        out += [
            f"{'    rule ' + kind.removeprefix('sign_in_'):<44}{seconds:>9.2f}"
            for kind, seconds in inner.get("per_rule", {}).items()
        ]
    else:
        out.append(
            f"{'analysis: access_log_analyse()':<44}{'>' + str(args.analysis_timeout):>9}"
            f"{'(stopped)':>19}{analysis.peak_rss_mb:>13.0f}"
        )
    peak = max(ingest.peak_rss_mb, analysis.peak_rss_mb)
    analysis_seconds = inner.get("seconds", float("inf"))
    out += [
        "",
        "Seconds are each child process's wall time, its start (Python, Django) included; peak "
        "RSS is its own VmHWM.",
        "Storing alone: the rows ingest stored, copied by one INSERT ... SELECT into a copy of "
        "the sign-in table (same indexes, checks,",
        "  deferred foreign keys), commit included, in the bench's own connection: the "
        "database's share of ingest, whoever parses.",
        f"ingest / floor: {ratio:.2f}x (goal >= {GOAL_INGEST_RATIO}x: "
        f"{'met' if ratio >= GOAL_INGEST_RATIO else 'NOT met'})",
        f"analysis of {inner.get('events', stored):,} events: "
        + (f"{analysis_seconds:.1f} s" if finished else f"stopped after {args.analysis_timeout} s")
        + f" (goal < {GOAL_ANALYSIS_SECONDS} s: "
        + f"{'met' if analysis_seconds < GOAL_ANALYSIS_SECONDS else 'NOT met'})",
        f"peak RSS: ingest {ingest.peak_rss_mb:.0f} MB, analysis {analysis.peak_rss_mb:.0f} MB "
        f"(goal < {GOAL_RSS_MB} MB: {'met' if peak < GOAL_RSS_MB else 'NOT met'})",
        "",
        f"ingestion: {ingestion.lines_read:,} lines read, {ingestion.accepted:,} accepted, "
        f"{ingestion.duplicates:,} duplicates, {ingestion.malformed:,} malformed (planted: "
        f"{log.events:,}, {log.duplicates:,}, {log.malformed:,}); {stored:,} sign-ins stored",
        f"{'finding kind':<30}{'planted':>9}{'found':>9}",
    ]
    out += [f"{kind:<30}{log.planted[kind]:>9}{found.get(kind, 0):>9}" for kind in KINDS]
    problems = []
    expected = (log.lines + 1, log.events, log.duplicates, log.malformed)
    actual = (ingestion.lines_read, ingestion.accepted, ingestion.duplicates, ingestion.malformed)
    if actual != expected or stored != log.events:
        problems.append(f"ingestion counts {actual} (stored {stored}), planted {expected}")
    if floor_rows != log.lines + 1:
        problems.append(f"the floor read {floor_rows} rows, the file has {log.lines + 1}")
    if not finished:
        problems.append(f"the analysis did not finish within {args.analysis_timeout} s")
    else:
        for kind in KINDS:
            if found.get(kind, 0) != log.planted[kind]:
                problems.append(f"{kind}: {found.get(kind, 0)} found, {log.planted[kind]} planted")
    out += [
        "",
        "Normal use: sign-ins from the lent terminal (host and address, FQDN only, or address "
        "only; a fifth in UTC, the rest +09:00)",
        "  with the login ID of its loan, within the loan and its due time and the lift plus "
        "grace; one failure on every other loan.",
        "Planted, each meeting exactly one rule: 1 the current ID days after a return; 7 a lost "
        "terminal's ID before its delayed rotation;",
        "  4 a loan kept past its due time; 3 a shop's PC during a loan; 2 the rotated-away ID "
        "days after the return; 6 IDs never issued;",
        f"  5 {BURST_FAILURES} failures {BURST_STEP} s apart with a loan's ID. Plus "
        f"{log.malformed} lines with a bad time and {log.duplicates} repeated lines.",
        f"Whole run, setup included: {time.perf_counter() - began:.0f} s",
    ]
    print("\n".join(out))
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=200_000, help="the README uses 2,000,000")
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument(
        "--per-kind", type=int, default=0, help="anomalies per kind (default: lines / 20,000)"
    )
    parser.add_argument(
        "--analysis-timeout", type=float, default=1800, help="seconds before it is stopped"
    )
    args = parser.parse_args()
    if args.accounts < 100 or args.lines < 10 * args.accounts:
        parser.error("--accounts must be at least 100 and --lines at least 10 x --accounts")
    return run_in_own_folder("nwterm-bench-access-log-", lambda folder: run(args, folder))


if __name__ == "__main__":
    sys.exit(main())
