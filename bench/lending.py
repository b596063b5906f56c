"""Lending throughput: check-out plus return through the REST API, served by gunicorn on
PostgreSQL, with concurrent clients, next to an authenticated `GET /api/v1/terminals/{tag}/`
measured the same way in the same run.

    .venv/bin/python bench/lending.py [--clients 8] [--seconds 60] [--terminals 400]
                                      [--workers 2] [--threads 4]

Needs gunicorn, which is not a dependency of the project: `.venv/bin/pip install gunicorn`.

Everything it needs is its own and gone afterwards: a temporary folder with a throwaway
PostgreSQL 15 cluster (fsync off) on a free loopback port, and gunicorn serving the project on
another. With DATABASE_URL set it uses that PostgreSQL database instead, and empties it before
and after: it refuses a database whose name does not contain "bench". Exits 1 when more than
1% of any operation's requests did not answer 2xx or a check after the run failed.
"""

import argparse
import base64
import collections
import contextlib
import datetime
import http.client
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.models import User

REPO = Path(__file__).resolve().parent.parent
# Run as a script, Python puts bench/ on the path, not the project.
sys.path.insert(0, str(REPO))
from bench.support import (  # noqa: E402  (after the path is set)
    BenchError,
    PostgresCluster,
    RedisServer,
    Worker,
    free_port,
    migrate_bench_database,
    process_tree_cpu_seconds,
    run_in_own_folder,
    stop_process,
    tail,
    wait_until,
)

DATABASE_NAME = "nwterm_bench"
WARM_UP_SECONDS = 5
DESK_SECONDS = 0.5  # the bench's settle sweep; the scheduler's runs every 30 s in production
TERMINAL_BATCH = 100  # terminals (each with its account) created per transaction
KEEP_ALIVE_SECONDS = 5  # gunicorn's; a client reconnects before its connection could expire
ERROR_SHARE_ALLOWED = 0.01


class Server:
    """gunicorn with threaded workers, serving config.wsgi on loopback with the bench's
    environment (the same database and keys as the bench process)."""

    def __init__(self, port: int, workers: int, threads: int, log: Path, token: str):
        self.port, self.workers, self.threads, self.log = port, workers, threads, log
        self.token = token
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Server":
        args = [sys.executable, "-m", "gunicorn", "config.wsgi:application",
                "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
                "--worker-class", "gthread", "--threads", str(self.threads),
                "--keep-alive", str(KEEP_ALIVE_SECONDS)]  # fmt: skip
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603
                args, cwd=REPO, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        try:
            wait_until(self._answers, what="gunicorn", log=self.log)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        stop_process(self.process)

    def cpu_seconds(self) -> float:
        """User plus system CPU time of gunicorn's master and worker processes so far."""
        return process_tree_cpu_seconds(self.process.pid) if self.process else math.nan

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise BenchError(f"gunicorn exited{tail(self.log)}")
        status, _body, _seconds = Client(self.port, self.token).call("GET", "/api/v1/terminals/")
        return status == 200


# CPU and lock waits ---------------------------------------------------------------------------


def postmaster_pid(cluster: "PostgresCluster | None") -> int | None:
    if cluster is None:
        return None
    with contextlib.suppress(OSError, ValueError):
        return int((cluster.data / "postmaster.pid").read_text().split()[0])
    return None


class LockSampler:
    """Samples pg_stat_activity every SAMPLE_SECONDS from its own connection while a phase
    runs: each sample counts the backends of the bench's database waiting for a heavyweight
    lock (`wait_event_type = 'Lock'`: row locks, which wait on the holder's transaction id,
    relation and tuple locks, advisory locks such as the audit chain's), and notes the
    statement each one waits in. The lock-wait time of the phase is estimated as the sum over
    samples of (backends waiting) x (time since the previous sample): an unbiased estimate,
    since the sampling clock is independent of the waits. PostgreSQL's internal lightweight
    locks (LWLock) are not counted: they are held for microseconds, not to a commit."""

    SAMPLE_SECONDS = 0.01
    QUERY = """
        SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 90)
        FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()
          AND wait_event_type = 'Lock'
    """

    def __init__(self):
        self.waiting_seconds = 0.0
        self.samples = 0
        self.by_statement: collections.Counter = collections.Counter()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.failure: BaseException | None = None

    def __enter__(self) -> "LockSampler":
        self.thread = threading.Thread(target=self._run, name="lock-sampler", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        self.thread.join()

    def _run(self) -> None:
        from django.db import connection

        try:
            with connection.cursor() as cursor:
                previous = time.perf_counter()
                while not self.stop.is_set():
                    cursor.execute(self.QUERY)
                    rows = cursor.fetchall()
                    now = time.perf_counter()
                    self.samples += 1
                    self.waiting_seconds += len(rows) * (now - previous)
                    for (statement,) in rows:
                        self.by_statement[statement] += now - previous
                    previous = now
                    self.stop.wait(self.SAMPLE_SECONDS)
        except BaseException as exc:
            self.failure = exc
        finally:
            connection.close()


@dataclass
class Costs:
    """Server CPU and lock waits measured over one phase."""

    server_cpu: float = math.nan  # gunicorn master and workers, seconds
    worker_cpu: float = math.nan  # the Celery worker's processes (--rotations worker), seconds
    database_cpu: float = math.nan  # PostgreSQL's processes, seconds (own cluster only)
    locks: "LockSampler | None" = None


@contextlib.contextmanager
def measured(server: "Server", worker: "Worker | None", postmaster: int | None, sample_locks: bool):
    costs = Costs()
    server_before = server.cpu_seconds()
    worker_before = worker.cpu_seconds() if worker else math.nan
    database_before = process_tree_cpu_seconds(postmaster) if postmaster else math.nan
    sampler = LockSampler() if sample_locks else None
    with sampler or contextlib.nullcontext():
        yield costs
    if sampler is not None and sampler.failure:
        raise BenchError(f"the lock sampler failed: {sampler.failure!r}") from sampler.failure
    costs.server_cpu = server.cpu_seconds() - server_before
    if worker:
        costs.worker_cpu = worker.cpu_seconds() - worker_before
    if postmaster:
        costs.database_cpu = process_tree_cpu_seconds(postmaster) - database_before
    costs.locks = sampler


# Environment ----------------------------------------------------------------------------------


def prepare_environment(folder: Path, redis_url: str | None) -> bool:
    """The settings of the bench process; gunicorn inherits them, so both sides share the
    database and the keys. Returns whether the database is the caller's."""
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
    # No broker is used, and DEBUG would keep every query in memory.
    for name in ("REDIS_URL", "DEBUG"):
        os.environ.pop(name, None)
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        APP_ENV="development",
        DATA_DIR=str(folder / "data"),
        ALLOWED_HOSTS="127.0.0.1",
        # No worker: the setup's initial rotations run in this process as they are requested,
        # and the rotations a return requests run inside the server's request.
        CELERY_TASK_ALWAYS_EAGER="true",
        CREDENTIAL_KEYS=f"bench:{base64.b64encode(secrets.token_bytes(32)).decode()}",
        SECRET_KEY=secrets.token_urlsafe(50),
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        # Eager tasks log each result at INFO; a web process deployed with a worker would not.
        LOG_LEVEL="WARNING",
    )
    return external


def machine_description(args, cluster: PostgresCluster | None, load_before: float) -> list[str]:
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
    where = (
        "own cluster on loopback, fsync and synchronous_commit off"
        if cluster
        else "the database of DATABASE_URL"
    )
    return [
        f"date:     {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"machine:  nproc {len(os.sched_getaffinity(0))}, {cpu}, "
        f"load average {load_before:.1f} before the phases, {os.getloadavg()[0]:.1f} at the "
        "end (other work on the machine)",
        f"software: Python {platform.python_version()}, "
        f"Django {importlib.metadata.version('django')}, "
        f"gunicorn {importlib.metadata.version('gunicorn')}",
        f"database: {database} ({where})",
        f"server:   gunicorn on loopback, {args.workers} workers x {args.threads} threads "
        f"(gthread), keep-alive {KEEP_ALIVE_SECONDS} s; clients: {args.clients} threads in "
        "the bench process, http.client with keep-alive, same machine",
    ]


# Setup (not measured) -------------------------------------------------------------------------


@dataclass
class World:
    return_location: str
    declaration_id: int
    tags: list[str]
    tokens: list[str]
    contractor: "User"
    approver: "User"


def supervise(contractor_org, *, contractor, security) -> None:
    """Contractor supervision (issue #12): an accepted yearly report and the bench operator's
    training, as lending asks for them at request and check-out."""
    from datetime import timedelta

    from django.utils import timezone

    from lending import supervision

    today = timezone.localdate()
    report = supervision.contractor_report_submit(
        actor=contractor,
        contractor=contractor_org,
        period_start=today - timedelta(days=1),
        period_end=today + timedelta(days=364),
        answers={code: "yes" for code, _question in supervision.CHECKLIST},
    )
    supervision.contractor_report_accept(report=report, actor=security)
    supervision.operator_training_record(
        actor=security,
        contractor=contractor_org,
        operator_name="Bench operator",
        course="Bench course",
        completed_on=today - timedelta(days=1),
        expires_on=today + timedelta(days=364),
        undertaking_signed_on=today - timedelta(days=1),
    )


def build_world(terminals: int, clients: int) -> World:
    """Through the services, as staff would: a site with a cabinet, terminals with one account
    each on a local target (initial rotations run as each batch commits), a declaration over
    the site, and the users: a contractor, a facilities approver and the facilities user at the
    counter (a different one: separation of duties), with one API token per client."""
    from django.db import transaction

    from core.models import Organization
    from core.roles import Role
    from core.services import api_token_issue, organization_create, user_create
    from credentials.accounts import account_create
    from credentials.targets import target_system_create
    from lending import services as lending
    from terminals.models import Location
    from terminals.services import location_create, terminal_create

    operator = organization_create(
        actor=None,
        code="bench-operator",
        name="Bench operator",
        kind=Organization.Kind.NETWORK_OPERATOR,
    )
    contractor_org = organization_create(
        actor=None,
        code="bench-contractor",
        name="Bench contractor",
        kind=Organization.Kind.CONTRACTOR,
    )

    def user(name: str, role: str, organization):
        return user_create(
            actor=None,
            username=name,
            role=role,
            password=secrets.token_urlsafe(18),
            organization=organization,
        )

    security = user("bench-security", Role.SECURITY, operator)
    approver = user("bench-approver", Role.FACILITIES, operator)
    counter = user("bench-counter", Role.FACILITIES, operator)
    contractor = user("bench-contractor", Role.CONTRACTOR, contractor_org)
    supervise(contractor_org, contractor=contractor, security=security)

    site = location_create(
        actor=None, code="bench-site", name="Bench site", kind=Location.Kind.SITE,
        custodian=operator, secured=True,
    )  # fmt: skip
    cabinet = location_create(
        actor=None, code="bench-cabinet", name="Bench cabinet", kind=Location.Kind.CABINET,
        parent=site, custodian=operator, secured=True,
    )  # fmt: skip
    target = target_system_create(
        actor=None, code="bench-local", name="Bench (local)", connector="local"
    )
    tags = [f"BENCH-{n:05d}" for n in range(terminals)]
    for start in range(0, terminals, TERMINAL_BATCH):
        with transaction.atomic():
            for tag in tags[start : start + TERMINAL_BATCH]:
                terminal = terminal_create(
                    actor=None, asset_tag=tag, location=cabinet, custodian=operator
                )
                account_create(actor=None, target_system=target, terminal=terminal)
    declaration = lending.declaration_declare(actor=security, title="Bench disaster", sites=[site])
    return World(
        return_location=cabinet.code,
        declaration_id=declaration.pk,
        tags=tags,
        tokens=[api_token_issue(user=counter) for _ in range(clients)],
        contractor=contractor,
        approver=approver,
    )


def check_world(world: World) -> None:
    """Eager tasks keep their exceptions to themselves: make sure every initial rotation ran."""
    from credentials.models import Account, AccountState

    ready = Account.objects.filter(
        state=AccountState.LOCKED, current_version__isnull=False, terminal__asset_tag__in=world.tags
    ).count()
    if ready != len(world.tags):
        raise BenchError(f"{ready} of {len(world.tags)} accounts are ready to lend after setup")


def approved_request(world: World) -> int:
    """One approved request for the most terminals a request may ask for."""
    from django.conf import settings
    from django.utils import timezone

    from lending import services as lending
    from lending.models import Declaration

    request = lending.access_request_submit(
        actor=world.contractor,
        declaration=Declaration.objects.get(pk=world.declaration_id),
        work_site="Bench work site",
        quantity=settings.LENDING_MAX_QUANTITY,
        operators=["Bench operator"],
        purpose="Benchmark",
        needed_until=timezone.now() + datetime.timedelta(days=3),
    )
    lending.access_request_approve(request=request, actor=world.approver)
    return request.pk


# Clients --------------------------------------------------------------------------------------


@dataclass
class Tally:
    """One operation's answers: latencies of the 2xx ones, and the rest counted with samples."""

    seconds: list[float] = field(default_factory=list)
    errors: int = 0
    samples: list[str] = field(default_factory=list)

    def error(self, status: int, body: bytes) -> None:
        self.errors += 1
        if len(self.samples) < 3:
            self.samples.append(f"{status or 'no answer'}: {body[:300].decode(errors='replace')}")

    def add(self, other: "Tally") -> None:
        self.seconds += other.seconds
        self.errors += other.errors
        self.samples += other.samples[: 3 - len(self.samples)]

    @property
    def requests(self) -> int:
        return len(self.seconds) + self.errors

    def percentile(self, p: float) -> float:
        """Nearest rank, in milliseconds."""
        if not self.seconds:
            return math.nan
        ranked = sorted(self.seconds)
        return 1000 * ranked[max(0, math.ceil(p / 100 * len(ranked)) - 1)]


class Client:
    """One HTTP/1.1 connection with keep-alive and the counter's token."""

    def __init__(self, port: int, token: str):
        self.port = port
        self.headers = {
            "Authorization": f"Token {token}",
            "Accept": "application/json",
            "Accept-Language": "en",
        }
        self.connection: http.client.HTTPConnection | None = None
        self.last_used = 0.0

    def call(self, method: str, path: str, payload: dict | None = None):
        """(status, body, seconds); status 0 when the connection failed."""
        # Reconnect rather than send into a connection the server may be closing.
        if time.monotonic() - self.last_used > KEEP_ALIVE_SECONDS / 2:
            self.close()
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers, body = dict(self.headers), None
        if payload is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(payload).encode()
        start = time.perf_counter()
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return 0, repr(exc).encode(), time.perf_counter() - start
        seconds = time.perf_counter() - start
        self.last_used = time.monotonic()
        if response.will_close:
            self.close()
        return response.status, answer, seconds

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class Desk:
    """The back office, in a thread of the bench process: settles returned terminals into
    storage (what the scheduler does) and approves more requests when a client is about to run
    out. A terminal returned before a settle pass started is back in storage after it."""

    def __init__(self, world: World, pools: list[collections.deque]):
        self.world, self.pools = world, pools
        self.settled_through = 0.0
        self.in_storage: set[str] = set()
        self.settled = 0
        self.approved_during_phase = 0
        self.failure: BaseException | None = None
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def settle(self) -> None:
        from lending.services import returned_terminals_settle
        from terminals.models import Terminal

        started = time.perf_counter()
        self.settled += returned_terminals_settle()
        # A terminal whose rotation has not run yet is not settled: it waits for a later pass.
        self.in_storage = set(
            Terminal.objects.filter(
                asset_tag__in=self.world.tags, status=Terminal.Status.IN_STORAGE
            ).values_list("asset_tag", flat=True)
        )
        self.settled_through = started

    def __enter__(self) -> "Desk":
        self.stop.clear()
        self.thread = threading.Thread(target=self._run, name="desk", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        self.thread.join()

    def _run(self) -> None:
        from django.db import connection

        try:
            while not self.stop.is_set():
                self.settle()
                for pool in self.pools:
                    if len(pool) < 2:
                        pool.append(approved_request(self.world))
                        self.approved_during_phase += 1
                self.stop.wait(DESK_SECONDS)
        except BaseException as exc:
            self.failure = exc
        finally:
            connection.close()


@dataclass
class Counter:
    """A client with its own slice of terminals and its own approved requests, so that clients
    never compete for one terminal or one request's quantity."""

    client: Client
    terminals: collections.deque  # (asset tag, when it was returned or None)
    requests: collections.deque  # request ids; the first is being served
    served: collections.Counter = field(default_factory=collections.Counter)
    waited: float = 0.0

    def _wait(self, ready, deadline: float, stop: threading.Event):
        start = time.perf_counter()
        try:
            while not stop.is_set() and time.perf_counter() < deadline:
                found = ready()
                if found is not None:
                    return found
                time.sleep(0.01)
            return None
        finally:
            self.waited += time.perf_counter() - start

    def next_terminal(self, desk: Desk, deadline: float, stop: threading.Event):
        def ready():
            if self.terminals and (
                self.terminals[0][1] is None
                or (
                    self.terminals[0][1] < desk.settled_through
                    and self.terminals[0][0] in desk.in_storage
                )
            ):
                return self.terminals.popleft()[0]
            return None

        return ready() or self._wait(ready, deadline, stop)

    def next_request(self, quantity: int, deadline: float, stop: threading.Event):
        def ready():
            while self.requests and self.served[self.requests[0]] >= quantity:
                self.requests.popleft()
            return self.requests[0] if self.requests else None

        return ready() or self._wait(ready, deadline, stop)

    def loans(self, world: World, desk: Desk, deadline: float, stop: threading.Event, tallies):
        from django.conf import settings

        checkout, give_back, loan = tallies
        while not stop.is_set() and time.perf_counter() < deadline:
            tag = self.next_terminal(desk, deadline, stop)
            request_id = self.next_request(settings.LENDING_MAX_QUANTITY, deadline, stop)
            if tag is None or request_id is None:
                if tag is not None:
                    self.terminals.appendleft((tag, None))
                return
            status, body, out_seconds = self.client.call(
                "POST",
                "/api/v1/loans/",
                {
                    "request": request_id,
                    "terminal": tag,
                    "operator_name": "Bench operator",
                    "acknowledged_name": "Bench operator",
                },
            )
            # Counted even when refused: the bench cannot tell whether the loan was recorded.
            self.served[request_id] += 1
            if status != 201:
                # The terminal's state is unknown now: it is not used again.
                checkout.error(status, body)
                loan.error(status, body)
                continue
            checkout.seconds.append(out_seconds)
            status, body, back_seconds = self.client.call(
                "POST",
                f"/api/v1/loans/{json.loads(body)['id']}/return/",
                {
                    "condition": "ok",
                    "cards_returned": [],
                    "return_location": world.return_location,
                    "handed_back_by": "Bench operator",
                    "operator_signature": "Bench operator",
                    "data_disposition": "destroyed",
                },
            )
            if status not in (200, 201):
                give_back.error(status, body)
                loan.error(status, body)
                continue
            give_back.seconds.append(back_seconds)
            loan.seconds.append(out_seconds + back_seconds)
            self.terminals.append((tag, time.perf_counter()))

    def reads(self, deadline: float, stop: threading.Event, tally: Tally) -> None:
        tags = [tag for tag, _returned in self.terminals]
        n = 0
        while not stop.is_set() and time.perf_counter() < deadline:
            status, body, seconds = self.client.call("GET", f"/api/v1/terminals/{tags[n]}/")
            n = (n + 1) % len(tags)
            if status == 200:
                tally.seconds.append(seconds)
            else:
                tally.error(status, body)


@dataclass
class Phase:
    seconds: float
    tallies: list[Tally]


def run_phase(counters: list[Counter], seconds: float, work) -> Phase:
    """`work(counter, deadline, stop, tallies)` in one thread per counter; the clock stops when
    the last one finished the loan or request it had started before the deadline."""
    stop = threading.Event()
    per_counter: list[list[Tally]] = [[Tally(), Tally(), Tally()] for _ in counters]
    failures: list[BaseException] = []
    start = time.perf_counter()
    deadline = start + seconds

    def target(counter: Counter, tallies: list[Tally]) -> None:
        try:
            work(counter, deadline, stop, tallies)
        except BaseException as exc:
            failures.append(exc)
            stop.set()

    threads = [
        threading.Thread(target=target, args=(c, t), daemon=True)
        for c, t in zip(counters, per_counter, strict=True)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.5)
    finally:
        stop.set()
    elapsed = time.perf_counter() - start
    if failures:
        raise BenchError(f"a client failed: {failures[0]!r}") from failures[0]
    totals = [Tally(), Tally(), Tally()]
    for tallies in per_counter:
        for total, tally in zip(totals, tallies, strict=True):
            total.add(tally)
    return Phase(elapsed, totals)


# Checks ---------------------------------------------------------------------------------------


def verify(world: World, completed_loans: int) -> list[str]:
    """What is wrong in the database after the run (empty when nothing is)."""
    from core.audit import verify_chain
    from credentials.models import Rotation, RotationStatus
    from lending.models import Loan, LoanStatus, ReturnConfirmation
    from terminals.models import Terminal

    problems = []
    returned = Loan.objects.filter(status=LoanStatus.RETURNED).count()
    if returned != completed_loans:
        problems.append(f"{returned} loans returned, the clients completed {completed_loans}")
    out = Loan.objects.filter(status__in=Loan.OUT).count()
    if out:
        problems.append(f"{out} loans are still out")
    unfinished = Rotation.objects.exclude(status=RotationStatus.SUCCEEDED).count()
    if unfinished:
        problems.append(f"{unfinished} rotations did not succeed")
    unsettled = ReturnConfirmation.objects.filter(settled_at__isnull=True).count()
    if unsettled:
        problems.append(f"{unsettled} returned terminals were not settled into storage")
    stored = Terminal.objects.filter(
        asset_tag__in=world.tags, status=Terminal.Status.IN_STORAGE
    ).count()
    if stored != len(world.tags) and not problems:
        problems.append(f"{stored} of {len(world.tags)} terminals are back in storage")
    checked, broken = verify_chain()
    if broken is not None:
        problems.append(f"audit chain broken at event {broken.seq}: {broken.reason}")
    else:
        print(f"audit chain: {checked} events verified", file=sys.stderr)
    return problems


def rotations_drained() -> float:
    """Seconds until no rotation is left waiting (0 when none is)."""
    from credentials.models import Rotation, RotationStatus

    start = time.perf_counter()
    waiting = Rotation.objects.filter(status=RotationStatus.REQUESTED)
    last_count, last_change = None, start
    while (count := waiting.count()) > 0:
        if count != last_count:
            last_count, last_change = count, time.perf_counter()
        elif time.perf_counter() - last_change > 60:
            raise BenchError(f"{count} rotations have waited a minute without one finishing")
        time.sleep(0.05)
    return time.perf_counter() - start


# Report ---------------------------------------------------------------------------------------


def operations(reads: Phase, loans: Phase) -> list[tuple[str, Tally, float]]:
    """(name, tally, phase seconds) for each row of the table."""
    return [
        ("GET /api/v1/terminals/{tag}/", reads.tallies[0], reads.seconds),
        ("POST /api/v1/loans/ (check-out)", loans.tallies[0], loans.seconds),
        ("POST /api/v1/loans/{id}/return/", loans.tallies[1], loans.seconds),
        ("loan = check-out + return", loans.tallies[2], loans.seconds),
    ]


def all_cpu(costs: Costs, database: bool = False) -> float:
    """Server CPU, plus the worker's when there is one, plus PostgreSQL's with `database`."""
    total = costs.server_cpu + (0 if math.isnan(costs.worker_cpu) else costs.worker_cpu)
    return total + costs.database_cpu if database else total


def cost_lines(reads: Phase, loans: Phase, read_costs: Costs, loan_costs: Costs) -> list[str]:
    """CPU per loan and per GET, lock waits as a share of a check-out's time, and the issue's
    goals checked against this run's figures."""
    gets = len(reads.tallies[0].seconds)
    completed = len(loans.tallies[2].seconds)
    checkout_seconds = sum(loans.tallies[0].seconds)
    return_seconds = sum(loans.tallies[1].seconds)
    lines = ["", "Costs (loan phase; the GET phase for comparison):"]

    def per(total: float, n: int) -> str:
        return f"{1000 * total / n:.1f} ms" if n and not math.isnan(total) else "n/a"

    lines.append(
        f"  server CPU (gunicorn processes, user+system): {per(loan_costs.server_cpu, completed)}"
        f" per loan, {per(read_costs.server_cpu, gets)} per GET"
    )
    if not math.isnan(loan_costs.worker_cpu):
        lines.append(
            f"  worker CPU (the Celery worker's processes): "
            f"{per(loan_costs.worker_cpu, completed)} per loan, "
            f"{per(read_costs.worker_cpu, gets)} per GET"
        )
    lines.append(
        f"  PostgreSQL CPU (all its processes): {per(loan_costs.database_cpu, completed)}"
        f" per loan, {per(read_costs.database_cpu, gets)} per GET"
    )
    locks = loan_costs.locks
    if locks is not None and completed:
        waited = locks.waiting_seconds
        lines += [
            f"  lock waits: {1000 * waited / completed:.1f} ms per loan "
            f"({locks.samples} samples of pg_stat_activity, every "
            f"{1000 * LockSampler.SAMPLE_SECONDS:.0f} ms);",
            f"    {100 * waited / (checkout_seconds + return_seconds):.1f}% of a loan's time "
            f"(check-out + return), {100 * waited / checkout_seconds:.1f}% of a check-out's "
            "time if every wait were a check-out's (an upper bound)",
        ]
        for statement, seconds in locks.by_statement.most_common(4):
            lines.append(f"    {1000 * seconds / completed:6.1f} ms/loan waiting in: {statement}")
    checkout_p99 = loans.tallies[0].percentile(99)
    return_p99 = loans.tallies[1].percentile(99)
    ratio = (completed / loans.seconds) / (gets / reads.seconds) if gets else math.nan
    lock_share = (
        locks.waiting_seconds / checkout_seconds if locks is not None and checkout_seconds else 1
    )

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    lines += [
        "",
        "Goals (issue #10):",
        f"  check-out p99 {checkout_p99:.0f} ms < 100 ms: {verdict(checkout_p99 < 100)}; "
        f"return p99 {return_p99:.0f} ms < 100 ms: {verdict(return_p99 < 100)}",
        f"  loans/s / GET/s = {ratio:.2f} >= 0.3: {verdict(ratio >= 0.3)}",
        f"  lock waits {100 * lock_share:.1f}% of a check-out's time (upper bound) < 10%: "
        f"{verdict(lock_share < 0.1)}",
        f"  CPU per loan, server and worker {per(all_cpu(loan_costs), completed)} (the issue's "
        "budget: about 28 ms)",
        f"  CPU per loan, server, worker and PostgreSQL {per(all_cpu(loan_costs, True), completed)}"
        f", per GET {per(all_cpu(read_costs, True), gets)}",
    ]
    return lines


def report(args, machine: list[str], reads: Phase, loans: Phase, notes: list[str]) -> str:
    header = f"{'operation':<36}{'requests':>9}{'per s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
    lines = [
        "",
        f"Lending benchmark: {args.clients} clients, {args.seconds:.0f} s per phase "
        f"(GET phase {reads.seconds:.1f} s, loan phase {loans.seconds:.1f} s)",
        *machine,
        "",
        header,
        "-" * len(header),
    ]
    for name, tally, seconds in operations(reads, loans):
        lines.append(
            f"{name:<36}{tally.requests:>9}{len(tally.seconds) / seconds:>9.1f}"
            f"{tally.percentile(50):>9.1f}{tally.percentile(99):>9.1f}{tally.errors:>8}"
        )
    completed = len(loans.tallies[2].seconds)
    lines += [
        "",
        f"loans per second: {completed / loans.seconds:.1f} "
        f"({completed} check-outs each followed by its return)",
        *notes,
    ]
    return "\n".join(lines)


def too_many_errors(reads: Phase, loans: Phase) -> list[str]:
    failed = []
    for name, tally, _seconds in operations(reads, loans):
        if tally.errors > ERROR_SHARE_ALLOWED * tally.requests:
            failed.append(f"{name}: {tally.errors} of {tally.requests} requests failed, e.g.")
            failed += [f"  {sample}" for sample in tally.samples]
    return failed


# Main -----------------------------------------------------------------------------------------


def run(args, folder: Path) -> int:
    began = time.perf_counter()
    (folder / "data").mkdir()
    in_worker = args.rotations == "worker"
    redis_port = free_port()
    external = prepare_environment(
        folder, f"redis://127.0.0.1:{redis_port}/0" if in_worker else None
    )
    with contextlib.ExitStack() as stack:
        if in_worker:
            stack.enter_context(RedisServer(folder, redis_port))
        cluster = None
        if not external:
            cluster = stack.enter_context(PostgresCluster(folder, free_port(), DATABASE_NAME))
            os.environ["DATABASE_URL"] = cluster.url

        import django

        django.setup()
        from django.conf import settings
        from django.db import connection

        migrate_bench_database(stack, external=external)
        stack.callback(connection.close)

        step = time.perf_counter()
        world = build_world(args.terminals, args.clients)
        check_world(world)
        print(
            f"{args.terminals} terminals with their accounts set up in "
            f"{time.perf_counter() - step:.1f} s",
            file=sys.stderr,
        )
        port = free_port()
        worker = None
        if in_worker:
            # The setup's rotations ran in this process; from now on, as deployed: the server
            # sends each return's rotation to the broker, and a worker runs it.
            os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
            worker = stack.enter_context(
                Worker("bench", args.worker_concurrency, folder / "worker.log")
            )
        server = stack.enter_context(
            Server(port, args.workers, args.threads, folder / "server.log", world.tokens[0])
        )
        postmaster = postmaster_pid(cluster)

        pools = [collections.deque([approved_request(world)]) for _ in range(args.clients)]
        counters = [
            Counter(
                Client(port, token),
                collections.deque((tag, None) for tag in world.tags[n :: args.clients]),
                pools[n],
            )
            for n, token in enumerate(world.tokens)
        ]
        desk = Desk(world, pools)

        def reads(counter, deadline, stop, tallies):
            counter.reads(deadline, stop, tallies[0])

        def loans(counter, deadline, stop, tallies):
            counter.loans(world, desk, deadline, stop, tallies)

        # Warm-up, not counted: connections, imports and caches of every server thread.
        run_phase(counters, WARM_UP_SECONDS / 2, reads)
        with desk:
            warm = run_phase(counters, WARM_UP_SECONDS, loans)
        if desk.failure:
            raise BenchError(f"the desk failed: {desk.failure!r}") from desk.failure
        # Requests for the measured phase approved now, from the warm-up's rate, three times
        # over; the desk approves more during the phase only if a client still runs short.
        expected = 3 * len(warm.tallies[2].seconds) / warm.seconds * args.seconds / args.clients
        for pool in pools:
            while len(pool) < math.ceil(expected / settings.LENDING_MAX_QUANTITY) + 1:
                pool.append(approved_request(world))
        desk.settle()
        print(f"warm-up done: {len(warm.tallies[2].seconds)} loans", file=sys.stderr)

        load_before = os.getloadavg()[0]
        with measured(server, worker, postmaster, sample_locks=False) as read_costs:
            read_phase = run_phase(counters, args.seconds, reads)
        print(f"GET phase done: {len(read_phase.tallies[0].seconds)} requests", file=sys.stderr)
        desk.approved_during_phase = 0
        with desk, measured(server, worker, postmaster, sample_locks=True) as loan_costs:
            loan_phase = run_phase(counters, args.seconds, loans)
            # The rotations still waiting are the phase's work too: its time runs until they
            # are done, so that a worker falling behind cannot flatter the figures.
            loan_phase.seconds += rotations_drained()
        if desk.failure:
            raise BenchError(f"the desk failed: {desk.failure!r}") from desk.failure
        print(f"loan phase done: {len(loan_phase.tallies[2].seconds)} loans", file=sys.stderr)
        for counter in counters:
            counter.client.close()
        desk.settle()

        completed = len(warm.tallies[2].seconds) + len(loan_phase.tallies[2].seconds)
        problems = verify(world, completed)
        waited = sum(counter.waited for counter in counters)
        rotation_notes = (
            [
                f"Rotations run as deployed: a Celery worker (prefork, concurrency "
                f"{args.worker_concurrency}, ROTATION_COALESCE={settings.ROTATION_COALESCE}) on a "
                "Redis of its own;",
                "  the loan phase lasts until the last rotation it asked for is done, and the "
                "worker's CPU counts in the cost of a loan.",
            ]
            if in_worker
            else [
                "Return latency includes rotating the terminal's account with the local connector:",
                "  the server runs Celery tasks eagerly, inside the request (no worker, no "
                "broker).",
            ]
        )
        notes = [
            *rotation_notes,
            f"Every request carries an API token of the facilities user at the counter, one per "
            f"client. {args.terminals} terminals with one account each, "
            f"{args.terminals // args.clients} per client;",
            f"  each client serves its own approved requests of {settings.LENDING_MAX_QUANTITY} "
            "terminals, approved by another facilities user.",
            f"A thread of the bench settles returned terminals into storage every {DESK_SECONDS} s "
            "(the scheduler's job);",
            "  a client takes a terminal again once a settle pass has run after its return.",
            f"Clients waited {waited:.1f} s in all for a settled terminal or an approved request; "
            f"requests approved during the loan phase: {desk.approved_during_phase}.",
        ]
        machine = machine_description(args, cluster, load_before)

    print(report(args, machine, read_phase, loan_phase, notes))
    print("\n".join(cost_lines(read_phase, loan_phase, read_costs, loan_costs)))
    print(f"Whole run, setup included: {time.perf_counter() - began:.0f} s")
    failures = [f"FAILED: {p}" for p in problems] + [
        f"FAILED: {line}" for line in too_many_errors(read_phase, loan_phase)
    ]
    for line in failures:
        print(line, file=sys.stderr)
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60, help="length of each measured phase")
    parser.add_argument("--terminals", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument(
        "--rotations",
        choices=["worker", "in-request"],
        default="worker",
        help="run each return's rotation in a Celery worker (as deployed) or inside the request",
    )
    parser.add_argument("--worker-concurrency", type=int, default=1)
    args = parser.parse_args()
    if min(args.clients, args.workers, args.threads) < 1 or args.seconds <= 0:
        parser.error("--clients, --workers and --threads must be at least 1, --seconds above 0")
    if args.terminals < 4 * args.clients:
        parser.error("--terminals must be at least 4 per client")
    if importlib.util.find_spec("gunicorn") is None:
        print("bench: gunicorn is needed: .venv/bin/pip install gunicorn", file=sys.stderr)
        return 2
    return run_in_own_folder("nwterm-bench-lending-", lambda folder: run(args, folder))


if __name__ == "__main__":
    sys.exit(main())
