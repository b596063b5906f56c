"""Rotation throughput: every account rotated end to end through real Celery workers and a real
Redis, next to a floor measured in the same run and the same process: the same service calls
(password and login ID generation, encryption, the connector's call, the three steps' database
writes) in one plain loop without Celery.

    .venv/bin/python bench/rotation.py [--accounts 2000] [--connector local|ldap|both]
                                       [--database sqlite|postgresql] [--concurrency 2]
                                       [--connector-delay 0] [--profile]

Everything it needs is its own and gone afterwards: a temporary DATA_DIR with a migrated SQLite
database (or a throwaway PostgreSQL 15 cluster, fsync off), a redis-server and (for ldap) a
slapd on free loopback ports. For ldap it also measures the directory alone: the three
operations of a rotation on one bound ldap3 connection. With DATABASE_URL set it
uses that database instead, and empties it before and after: it refuses a database whose name
does not contain "bench". Exits non-zero when any rotation did not succeed.
"""

import argparse
import base64
import contextlib
import cProfile
import datetime
import os
import platform
import pstats
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

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
    run_in_own_folder,
    tail,
)

DATABASE_NAME = "nwterm_bench_rotation"  # --database postgresql: a throwaway cluster's database
REQUEST_BATCH = 100  # rotations requested per transaction, as a bulk forced rotation would
POLL_SECONDS = 0.1
STALL_SECONDS = 60  # no rotation finished for this long: the worker is stuck, give up


# Environment ----------------------------------------------------------------------------------


def prepare_environment(folder: Path, redis_url: str) -> bool:
    """The settings of the bench process; workers inherit them unchanged, so both sides share
    the database, the broker and the keys. Returns whether the database is the caller's."""
    import dj_database_url

    external = "DATABASE_URL" in os.environ
    if external:
        name = str(dj_database_url.parse(os.environ["DATABASE_URL"])["NAME"] or "")
        if "bench" not in name:
            raise BenchError(
                f"DATABASE_URL names the database {name!r}; the bench empties its database, so "
                'it only runs on one whose name contains "bench"'
            )
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'bench.sqlite3'}"
    os.environ.pop("CELERY_TASK_ALWAYS_EAGER", None)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        APP_ENV="development",
        DATA_DIR=str(folder),
        REDIS_URL=redis_url,
        CREDENTIAL_KEYS=f"bench:{base64.b64encode(secrets.token_bytes(32)).decode()}",
        SECRET_KEY=secrets.token_urlsafe(50),
    )
    return external


def machine_description(concurrency: int) -> list[str]:
    import celery
    from django.db import connection

    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    if connection.vendor == "sqlite":
        import sqlite3

        database = f"SQLite {sqlite3.sqlite_version} (WAL, one file in a temporary folder)"
    else:
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            database = cursor.fetchone()[0].split(" on ")[0]
    # "Redis server v=7.0.15 sha=..."
    redis = subprocess.run(["redis-server", "--version"], capture_output=True, text=True)  # noqa: S607
    redis_version = redis.stdout.split()[2].removeprefix("v=")
    return [
        f"date:     {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"machine:  nproc {len(os.sched_getaffinity(0))}, {cpu}, "
        f"load average {os.getloadavg()[0]:.1f} at the end (other work on the machine)",
        f"software: Python {platform.python_version()}, Celery {celery.__version__}, "
        f"Redis {redis_version}",
        f"database: {database}",
        f"worker:   celery prefork, concurrency {concurrency}, one worker process group",
    ]


# Setup (not measured) -------------------------------------------------------------------------


@contextlib.contextmanager
def rotations_kept_in_process():
    """Hand-offs to Celery collected instead of sent, one list per message. `rotations_dispatch`,
    called after each commit, is the only place where a rotation meets Celery; replacing it
    keeps every other line of the request and of the rotation exactly as in production."""
    from credentials import rotation

    batches: list[list[int]] = []

    def collect(*, rotation_ids) -> None:
        for start in range(0, len(rotation_ids), rotation.BATCH_SIZE):
            batches.append(list(rotation_ids[start : start + rotation.BATCH_SIZE]))

    with mock.patch.object(rotation, "rotations_dispatch", collect):
        yield batches


def create_target(kind: str, slapd):
    from credentials.targets import target_system_create

    if kind == "local":
        return target_system_create(
            actor=None, code="bench-local", name="Bench (local)", connector="local"
        )
    return target_system_create(
        actor=None,
        code="bench-ldap",
        name="Bench (LDAP)",
        connector="ldap",
        ldap_url=slapd.url,
        ldap_base_dn=slapd.new_branch(),
        ldap_bind_dn=slapd.bind_dn,
        ldap_bind_password=slapd.bind_password,
    )


def create_accounts(target, count: int) -> None:
    """`count` terminals with one account each, whose initial rotations ran in this process:
    the measured phases start from locked accounts with current secrets."""
    from django.db import transaction

    from core.models import Organization
    from core.services import organization_create
    from credentials.accounts import account_create
    from credentials.rotation import rotations_perform
    from terminals.services import location_create, terminal_create

    operator = Organization.objects.filter(code="bench-operator").first() or organization_create(
        actor=None, code="bench-operator", name="Bench operator", kind="network_operator"
    )
    location = location_create(
        actor=None,
        code=f"{target.code}-site",
        name=f"Bench site for {target.code}",
        kind="site",
        custodian=operator,
        secured=True,
    )
    with rotations_kept_in_process() as batches:
        for start in range(0, count, REQUEST_BATCH):
            with transaction.atomic():
                for n in range(start, min(start + REQUEST_BATCH, count)):
                    terminal = terminal_create(
                        actor=None,
                        asset_tag=f"{target.code}-{n:05d}",
                        location=location,
                        custodian=operator,
                    )
                    account_create(actor=None, target_system=target, terminal=terminal)
    for batch in batches:
        rotations_perform(rotation_ids=batch)


# Measured phases ------------------------------------------------------------------------------


def accounts_of(target) -> list:
    from credentials.models import Account

    return list(Account.objects.filter(target_system=target).order_by("pk"))


def request_rotations(accounts: list) -> None:
    from django.db import transaction

    from credentials.models import RotationReason
    from credentials.rotation import rotations_request

    # As a security officer's forced rotation of a target does (rotation_force).
    for start in range(0, len(accounts), REQUEST_BATCH):
        with transaction.atomic():
            rotations_request(
                accounts=accounts[start : start + REQUEST_BATCH],
                reason=RotationReason.FORCED,
                actor=None,
            )


@dataclass
class Phase:
    seconds: float
    requests_seconds: float  # until the last request was committed (and, end to end, sent)
    count: int
    retried: int = 0  # rotations that needed more than one attempt (a connector error)

    @property
    def rate(self) -> float:
        return self.count / self.seconds


def measure_floor(target, profile: bool, connector_delay: float) -> Phase:
    """The same requests and the same `rotations_perform` the worker runs on each message's
    batch, one after the other in this process: what the service code costs with no broker, no
    worker and no parallelism."""
    from credentials.models import RotationStatus
    from credentials.rotation import rotations_perform
    from tests.support.slow_target import slow_pushes

    accounts = accounts_of(target)
    profiler = cProfile.Profile() if profile else None
    # A simulated slow target slows the measured phases only.
    slow = slow_pushes(connector_delay) if connector_delay else contextlib.nullcontext()
    outcomes: dict = {}
    with rotations_kept_in_process() as batches, slow:
        if profiler:
            profiler.enable()
        start = time.perf_counter()
        request_rotations(accounts)
        requested = time.perf_counter()
        for batch in batches:
            outcomes.update(rotations_perform(rotation_ids=batch))
        end = time.perf_counter()
        if profiler:
            profiler.disable()
    if profiler:
        print(f"\n[{target.code}] profile of the floor loop:", file=sys.stderr)
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(25)
        stats.sort_stats("tottime").print_stats(15)
    results = {str(outcome) for outcome in outcomes.values()}
    if len(outcomes) != len(accounts) or results != {RotationStatus.SUCCEEDED}:
        raise BenchError(f"[{target.code}] floor: not every rotation succeeded: {results}")
    return Phase(end - start, requested - start, len(accounts))


def measure_end_to_end(target, concurrency: int, log: Path, connector_delay: float) -> Phase:
    """Requests sent to Redis on commit, run by a worker started beforehand; the clock stops
    when the database shows every one of them succeeded."""
    from django.db.models import Max

    from credentials.models import Rotation, RotationStatus

    accounts = accounts_of(target)
    mark = Rotation.objects.aggregate(m=Max("pk"))["m"] or 0
    phase = Rotation.objects.filter(pk__gt=mark, account__target_system=target)
    with Worker(target.code, concurrency, log, connector_delay):
        start = time.perf_counter()
        request_rotations(accounts)
        requested = time.perf_counter()
        done, last_progress, last_done = 0, requested, -1
        while done < len(accounts):
            time.sleep(POLL_SECONDS)
            done = phase.filter(status=RotationStatus.SUCCEEDED).count()
            now = time.perf_counter()
            if done != last_done:
                last_progress, last_done = now, done
            if phase.filter(status=RotationStatus.FAILED).exists():
                raise BenchError(f"[{target.code}] a rotation failed{tail(log)}")
            if now - last_progress > STALL_SECONDS:
                raise BenchError(
                    f"[{target.code}] {done} of {len(accounts)} rotations succeeded, and none "
                    f"for {STALL_SECONDS} s{tail(log)}"
                )
        end = time.perf_counter()
    retried = phase.filter(attempts__gt=1).count()
    return Phase(end - start, requested - start, len(accounts), retried)


def measure_directory_floor(slapd, count: int) -> Phase:
    """What the directory alone costs: the three operations of a rotation (rename, password
    modify, lock) for `count` entries on one bound ldap3 connection, one after the other, with
    no database, no Celery and none of the service's code. Its entries are in a branch of their
    own, made and rotated once beforehand (not measured), as the service's entries were."""
    from ldap3 import MODIFY_REPLACE, NONE, Connection, Server

    from credentials.connectors.ldap import PERMANENTLY_LOCKED

    branch = slapd.new_branch()
    conn = Connection(
        Server(slapd.url, get_info=NONE),
        user=slapd.bind_dn,
        password=slapd.bind_password,
        auto_bind=True,
        raise_exceptions=True,
    )

    def rotate_all(old: str, new: str) -> None:
        for n in range(count):
            new_dn = f"uid=raw{n}-{new},{branch}"
            conn.modify_dn(f"uid=raw{n}-{old},{branch}", f"uid=raw{n}-{new}", delete_old_dn=True)
            conn.extend.standard.modify_password(user=new_dn, new_password=passwords[n])
            conn.modify(new_dn, {"pwdAccountLockedTime": [(MODIFY_REPLACE, [PERMANENTLY_LOCKED])]})

    try:
        for n in range(count):
            conn.add(
                f"uid=raw{n}-a,{branch}",
                ["account", "simpleSecurityObject"],
                {"uid": f"raw{n}-a", "userPassword": secrets.token_urlsafe(24)},
            )
        passwords = [secrets.token_urlsafe(24) for _ in range(count)]
        # Entries as the service's are when it rotates them: rotated before (not measured).
        rotate_all("a", "b")
        start = time.perf_counter()
        rotate_all("b", "c")
        end = time.perf_counter()
        conn.search(branch, "(uid=raw*-c)", attributes=["1.1"], paged_size=count + 1)
        renamed = len([e for e in conn.response if e["type"] == "searchResEntry"])
    finally:
        conn.unbind()
    if renamed != count:
        raise BenchError(f"directory floor: {renamed} of {count} entries renamed")
    return Phase(end - start, 0.0, count)


# Checks ---------------------------------------------------------------------------------------


def verify(target, count: int) -> list[str]:
    """What is wrong with the target's accounts after the run (empty when nothing is)."""
    from credentials.models import Account, AccountState, Rotation, RotationStatus, SecretVersion
    from credentials.targets import connector_for

    problems = []
    rotations = Rotation.objects.filter(account__target_system=target)
    # Each account: its initial rotation, the floor's and the end-to-end one.
    if rotations.count() != 3 * count:
        problems.append(f"{rotations.count()} rotations instead of {3 * count}")
    unfinished = rotations.exclude(status=RotationStatus.SUCCEEDED).count()
    if unfinished:
        problems.append(f"{unfinished} rotations did not succeed")
    accounts = Account.objects.filter(target_system=target)
    locked = accounts.filter(state=AccountState.LOCKED).count()
    if locked != count:
        problems.append(f"{locked} accounts locked instead of {count}")
    if SecretVersion.objects.filter(account__target_system=target, status="pending").exists():
        problems.append("pending secret versions are left")
    on_target = sorted(connector_for(target).list_login_ids())
    if on_target != sorted(accounts.values_list("login_id", flat=True)):
        problems.append("the target's login IDs differ from the database's")
    return [f"[{target.code}] {p}" for p in problems]


# Main -----------------------------------------------------------------------------------------


@dataclass
class Result:
    connector: str
    accounts: int
    end_to_end: Phase
    floor: Phase
    directory: Phase | None = None  # the raw directory operations alone (ldap)


# The goals (#10): local end to end, and LDAP end to end against the raw directory.
GOAL_LOCAL_RATE = 500
GOAL_DIRECTORY_RATIO = 0.5


def report(results: list[Result], machine: list[str], total: float) -> str:
    header = (
        f"{'connector':<10}{'accounts':>9}{'end-to-end s':>14}{'rot/s':>9}"
        f"{'floor s':>10}{'rot/s':>9}{'ratio':>8}"
    )
    lines = ["", "Rotation benchmark", *machine, "", header, "-" * len(header)]
    for r in results:
        lines.append(
            f"{r.connector:<10}{r.accounts:>9}{r.end_to_end.seconds:>14.1f}"
            f"{r.end_to_end.rate:>9.1f}{r.floor.seconds:>10.1f}{r.floor.rate:>9.1f}"
            f"{r.end_to_end.rate / r.floor.rate:>8.2f}"
        )
    lines += [
        "",
        "ratio = end-to-end rotations/s / floor rotations/s. Both include requesting the",
        f"rotations ({REQUEST_BATCH} per transaction); the floor ran first, in this process.",
        "Requests committed after (s): "
        + ", ".join(
            f"{r.connector} floor {r.floor.requests_seconds:.1f} / end-to-end "
            f"{r.end_to_end.requests_seconds:.1f}"
            for r in results
        ),
        "End-to-end rotations retried after a connector error: "
        + ", ".join(f"{r.connector} {r.end_to_end.retried}" for r in results),
        f"Whole run, setup included: {total:.0f} s",
        "",
    ]
    for r in results:
        if r.directory is not None:
            ratio = r.end_to_end.rate / r.directory.rate
            met = "met" if ratio >= GOAL_DIRECTORY_RATIO else "NOT met"
            lines += [
                f"{r.connector} directory floor: {r.directory.rate:.1f} rotations/s "
                f"({r.directory.count} x rename, password modify, lock on one bound ldap3 "
                f"connection, {r.directory.seconds:.1f} s, same run)",
                f"goal {r.connector}: end to end / directory floor = {ratio:.2f} "
                f"(>= {GOAL_DIRECTORY_RATIO}): {met}",
            ]
        elif r.connector == "local":
            rate = r.end_to_end.rate
            lines.append(
                f"goal local: {rate:.0f} rotations/s end to end (>= {GOAL_LOCAL_RATE}): "
                f"{'met' if rate >= GOAL_LOCAL_RATE else 'NOT met'}"
            )
    return "\n".join(lines)


def run(args, folder: Path) -> int:
    with contextlib.ExitStack() as stack:
        if args.database == "postgresql" and "DATABASE_URL" not in os.environ:
            cluster = stack.enter_context(PostgresCluster(folder, free_port(), DATABASE_NAME))
            os.environ["DATABASE_URL"] = cluster.url
        return run_on_database(args, folder)


def run_on_database(args, folder: Path) -> int:
    began = time.perf_counter()
    redis_port = free_port()
    external = prepare_environment(folder, f"redis://127.0.0.1:{redis_port}/0")

    import django

    django.setup()

    from core.audit import verify_chain

    kinds = ["local", "ldap"] if args.connector == "both" else [args.connector]
    with contextlib.ExitStack() as stack:
        migrate_bench_database(stack, external=external)
        stack.enter_context(RedisServer(folder, redis_port))
        slapd = None
        if "ldap" in kinds:
            from tests.support import slapd as slapd_support
            from tests.support.slapd import Slapd

            if Slapd.missing():
                raise BenchError(f"slapd is needed: apt-get install slapd ({Slapd.missing()})")
            # Durability off, as for the benches' PostgreSQL: the directory is thrown away, and
            # an fsync per write makes its speed that of the disk others share.
            stack.enter_context(
                mock.patch.object(
                    slapd_support,
                    "SLAPD_CONF",
                    slapd_support.SLAPD_CONF.replace(
                        "directory {folder}/data", "directory {folder}/data\ndbnosync"
                    ),
                )
            )
            slapd = stack.enter_context(Slapd())

        results, problems = [], []
        for kind in kinds:
            step = time.perf_counter()
            target = create_target(kind, slapd)
            create_accounts(target, args.accounts)
            print(
                f"[{kind}] {args.accounts} accounts set up in {time.perf_counter() - step:.1f} s",
                file=sys.stderr,
            )
            floor = measure_floor(target, args.profile, args.connector_delay)
            print(f"[{kind}] floor: {floor.seconds:.1f} s", file=sys.stderr)
            end_to_end = measure_end_to_end(
                target, args.concurrency, folder / f"worker-{kind}.log", args.connector_delay
            )
            print(f"[{kind}] end to end: {end_to_end.seconds:.1f} s", file=sys.stderr)
            directory = None
            if kind == "ldap":
                directory = measure_directory_floor(slapd, args.accounts)
                print(f"[{kind}] directory floor: {directory.seconds:.1f} s", file=sys.stderr)
            results.append(Result(kind, args.accounts, end_to_end, floor, directory))
            problems += verify(target, args.accounts)
        checked, broken = verify_chain()
        if broken is not None:
            problems.append(f"audit chain broken at event {broken.seq}: {broken.reason}")
        from core.models import AuditEvent

        events = AuditEvent.objects.count()
        if checked != events:
            problems.append(f"audit chain: {checked} of {events} events verified")
        machine = machine_description(args.concurrency)

    print(report(results, machine, time.perf_counter() - began))
    print(f"audit chain: {checked} events verified")
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--connector", choices=["local", "ldap", "both"], default="both")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="postgresql: a throwaway PostgreSQL 15 cluster of its own (fsync off)",
    )
    parser.add_argument(
        "--connector-delay",
        type=float,
        default=0,
        help="seconds of pause before each connector call in the measured phases (a slow target)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of the floor loop to stderr"
    )
    args = parser.parse_args()
    if args.accounts < 1 or args.concurrency < 1:
        parser.error("--accounts and --concurrency must be at least 1")
    return run_in_own_folder("nwterm-bench-", lambda folder: run(args, folder))


if __name__ == "__main__":
    sys.exit(main())
