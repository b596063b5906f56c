"""Audit trail throughput: 8 writer processes append events through `record_event`, each in its
own transaction, for N seconds, next to a floor (the same rows as a plain INSERT with no audit
logic, same writers, same run); then the sealer chains what is pending and the chain is
verified, each timed. On PostgreSQL and on SQLite, each in its own process.

    .venv/bin/python bench/audit.py [--database both|postgresql|sqlite] [--writers 8]
                                    [--seconds 20]

Everything it needs is its own and gone afterwards: a temporary folder with a SQLite database
and a throwaway PostgreSQL 15 cluster (fsync off) on a free loopback port. With DATABASE_URL set
the PostgreSQL pass uses that database instead, and empties it before and after: it refuses a
database whose name does not contain "bench". Exits 1 when the chain does not verify, when an
event is left unsealed, or when the verified count differs from the events written.
"""

import argparse
import base64
import contextlib
import datetime
import importlib.metadata
import multiprocessing
import os
import platform
import secrets
import signal
import subprocess
import sys
import threading
import time
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

DATABASE_NAME = "nwterm_bench_audit"
GOAL_APPEND = 5_000  # events/s appended by 8 writers (issue #10)
GOAL_VERIFY = 50_000  # events/s verified
DETAILS = {
    "terminal": "NW-00042",
    "from_status": "in_storage",
    "to_status": "lent",
    "request": 1234,
    "due_at": "2026-11-30T18:00:00+09:00",
    "reason": "災害対応",
}


def prepare_environment(folder: Path, database: str) -> bool:
    """The settings of this pass. Returns whether the database is the caller's."""
    external = database == "postgresql" and "DATABASE_URL" in os.environ
    if external:
        import dj_database_url

        parsed = dj_database_url.parse(os.environ["DATABASE_URL"])
        name = str(parsed["NAME"] or "")
        if "postgresql" not in parsed["ENGINE"]:
            raise BenchError("DATABASE_URL must name a PostgreSQL database")
        if "bench" not in name:
            raise BenchError(
                f"DATABASE_URL names the database {name!r}; the bench empties its database, so "
                'it only runs on one whose name contains "bench"'
            )
    if database == "sqlite":
        os.environ.pop("DATABASE_URL", None)
    for name in ("REDIS_URL", "DEBUG", "AUDIT_WITNESS_SYSLOG"):
        os.environ.pop(name, None)
    os.environ.pop("AUDIT_WITNESS_URL", None)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        APP_ENV="development",
        DATA_DIR=str(folder / "data"),
        CREDENTIAL_KEYS=f"bench:{base64.b64encode(secrets.token_bytes(32)).decode()}",
        SECRET_KEY=secrets.token_urlsafe(50),
        AUDIT_SIGNING_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
        AUDIT_WITNESS_FILE=str(folder / "data" / "audit_witness.jsonl"),
        LOG_LEVEL="WARNING",
    )
    return external


def machine_description(database: str, external: bool, load_at_start: float) -> list[str]:
    from django.db import connection

    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT version()")
            version = cursor.fetchone()[0].split(" on ")[0]
            where = (
                "the database of DATABASE_URL"
                if external
                else "own cluster on loopback, fsync and synchronous_commit off"
            )
        else:
            cursor.execute("SELECT sqlite_version()")
            version = f"SQLite {cursor.fetchone()[0]}"
            where = "a file, WAL, synchronous=NORMAL, IMMEDIATE transactions"
    return [
        f"date:     {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"machine:  nproc {len(os.sched_getaffinity(0))}, {cpu}, "
        f"load average {load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
        "(other work on the machine)",
        f"software: Python {platform.python_version()}, "
        f"Django {importlib.metadata.version('django')}, "
        + (
            f"psycopg {importlib.metadata.version('psycopg')}"
            if database == "postgresql"
            else "sqlite3"
        ),
        f"database: {version} ({where})",
    ]


# The writers ----------------------------------------------------------------------------------


def _writer(kind: str, deadline: float, actor_pk: int, results) -> None:
    """One writer process: an event per transaction until the deadline."""
    import json

    from django.db import connection, transaction
    from django.utils import timezone

    from core.audit import record_event
    from core.models import AuditEvent, User

    actor = User.objects.get(pk=actor_pk)
    count = 0
    if kind == "audit":
        while time.perf_counter() < deadline:
            with transaction.atomic():
                record_event(
                    actor=actor,
                    action="loan.checked_out",
                    object_type="lending.loan",
                    object_id=str(count),
                    details=DETAILS,
                )
            count += 1
    else:
        table = connection.ops.quote_name(AuditEvent._meta.db_table)
        cast = "::jsonb" if connection.vendor == "postgresql" else ""
        sql = (
            f"INSERT INTO {table} (occurred_at, actor_id, actor_username, action, object_type, "  # noqa: S608
            f"object_id, details) VALUES (%s, %s, %s, %s, %s, %s, %s{cast})"
        )
        while time.perf_counter() < deadline:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    sql,
                    [
                        timezone.now(),
                        actor.pk,
                        actor.username,
                        "loan.checked_out",
                        "lending.loan",
                        str(count),
                        json.dumps(DETAILS),
                    ],
                )
            count += 1
    connection.close()
    results.put(count)


def append_phase(
    kind: str, writers: int, seconds: float, actor_pk: int, sealer: bool
) -> tuple[float, int]:
    """Events per second appended by the writer processes (a sealer thread beside them when
    `sealer`, as the scheduler runs it every second)."""
    from django.db import connections

    from core.audit import seal_pending

    connections.close_all()  # no connection crosses the fork
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    start = time.perf_counter()
    deadline = start + seconds
    processes = [
        context.Process(target=_writer, args=(kind, deadline, actor_pk, results))
        for _ in range(writers)
    ]
    for process in processes:
        process.start()
    stop = threading.Event()

    def seal_every_second() -> None:
        try:
            while not stop.wait(1.0):
                seal_pending()
        finally:
            connections.close_all()

    thread = threading.Thread(target=seal_every_second) if sealer else None
    if thread:
        thread.start()
    counts = [results.get(timeout=seconds + 120) for _ in processes]
    elapsed = time.perf_counter() - start
    for process in processes:
        process.join()
    stop.set()
    if thread:
        thread.join()
    if any(process.exitcode for process in processes):
        raise BenchError(f"a {kind} writer failed")
    return sum(counts) / elapsed, sum(counts)


def run_pass(args, folder: Path) -> int:
    load_at_start = os.getloadavg()[0]
    (folder / "data").mkdir()
    external = prepare_environment(folder, args.only)
    with contextlib.ExitStack() as stack:
        if args.only == "postgresql" and not external:
            cluster = stack.enter_context(PostgresCluster(folder, free_port(), DATABASE_NAME))
            os.environ["DATABASE_URL"] = cluster.url

        import django

        django.setup()
        from django.conf import settings
        from django.db import connection

        from core.audit import seal_pending, unsealed_backlog, verify_chain
        from core.models import AuditCheckpoint, AuditEvent, AuditSeal, User

        migrate_bench_database(stack, external=external)
        stack.callback(connection.close)
        actor = User.objects.create_user("counter", password=None)

        append_phase("audit", args.writers, 2, actor.pk, sealer=True)  # warm-up, not counted
        seal_pending()
        audit_rate, audit_events = append_phase(
            "audit", args.writers, args.seconds, actor.pk, sealer=True
        )
        lag = unsealed_backlog()
        floor_rate, floor_events = append_phase(
            "floor", args.writers, args.seconds, actor.pk, sealer=False
        )

        # The floor's rows are left unsealed: sealing them measures the sealer alone.
        pending = unsealed_backlog().count
        start = time.perf_counter()
        sealed = seal_pending().sealed
        seal_seconds = time.perf_counter() - start

        total = AuditEvent.objects.count()
        if connection.vendor == "postgresql":
            # Not measured: the tables as autovacuum leaves them after the appends and seals.
            with connection.cursor() as cursor:
                for model in (AuditEvent, AuditSeal):
                    cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
        start = time.perf_counter()
        checked, broken = verify_chain(seal=False)
        verify_seconds = time.perf_counter() - start
        checkpoints = AuditCheckpoint.objects.count()
        left = unsealed_backlog().count
        machine = machine_description(args.only, external, load_at_start)

    problems = []
    if broken is not None:
        problems.append(f"the chain is broken at seq {broken.seq}: {broken.reason}")
    if checked != total:
        problems.append(f"{checked} events verified, {total} written")
    if left:
        problems.append(f"{left} events left unsealed")
    if sealed != pending:
        problems.append(f"{sealed} events sealed of {pending} pending")
    verify_rate = checked / verify_seconds if verify_seconds else 0.0
    seal_rate = sealed / seal_seconds if seal_seconds else 0.0

    def goal(value: float, floor: float) -> str:
        return "met" if value >= floor else "NOT met"

    lines = [
        f"== audit trail on {args.only}: {args.writers} writer processes, "
        f"{args.seconds:.0f} s per phase ==",
        *machine,
        "",
        f"{'step':<44}{'events':>10}{'events/s':>12}",
        f"{'append through record_event (unsealed)':<44}{audit_events:>10}{audit_rate:>12,.0f}",
        f"{'floor: plain INSERT of the same row':<44}{floor_events:>10}{floor_rate:>12,.0f}",
        f"{'seal the floor rows (seal_pending)':<44}{sealed:>10}{seal_rate:>12,.0f}",
        f"{'verify the whole chain (verify_chain)':<44}{checked:>10}{verify_rate:>12,.0f}",
        "",
        f"ratio append / floor: {audit_rate / floor_rate:.2f}",
        "verify: one process, after sealing"
        + (" and a VACUUM ANALYZE (not measured)" if args.only == "postgresql" else ""),
        "record_event: one INSERT; a sealer thread seals every second, as beat runs it",
        f"backlog right after the append phase: {lag.count} events unsealed, the oldest "
        f"{lag.oldest_age_seconds:.1f} s old",
        f"checkpoints written: {checkpoints} (every {settings.AUDIT_CHECKPOINT_EVENTS} events), "
        "each signed and appended to the witness file",
        f"goal append >= {GOAL_APPEND:,}/s: {goal(audit_rate, GOAL_APPEND)}; "
        f"goal verify >= {GOAL_VERIFY:,}/s: {goal(verify_rate, GOAL_VERIFY)}",
        "chain: " + ("verifies" if not problems else "FAILED"),
    ]
    print("\n".join(lines), flush=True)
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database", choices=["both", "postgresql", "sqlite"], default="both", dest="database"
    )
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--only", choices=["postgresql", "sqlite"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writers < 1 or args.seconds < 1:
        parser.error("--writers and --seconds must be at least 1")
    # A kill ends the run like Ctrl-C does: through the clean-up below.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.only is None:
        # Each database in its own process: Django's settings are read once per process.
        databases = ["postgresql", "sqlite"] if args.database == "both" else [args.database]
        status = 0
        for database in databases:
            command = [sys.executable, __file__, "--only", database]
            command += ["--writers", str(args.writers), "--seconds", str(args.seconds)]
            try:
                status = max(status, subprocess.run(command, check=False).returncode)  # noqa: S603
            except KeyboardInterrupt:
                print("bench: interrupted; everything it started is stopped", file=sys.stderr)
                return 130
            print()
        return status
    return run_in_own_folder(
        f"nwterm-bench-audit-{args.only}-", lambda folder: run_pass(args, folder)
    )


if __name__ == "__main__":
    sys.exit(main())
