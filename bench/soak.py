"""Soak: N minutes of mixed traffic at 16 concurrent clients on gunicorn (2 workers), PostgreSQL,
Redis, a real Celery worker and beat: check-outs, reveals and returns, stock-take scans and list
pages. Throughput, p50/p99 per action, errors (the bench fails on any), and the resident memory
of every process (gunicorn's master and workers, the Celery worker and its pool) at the start
and at the end.

    .venv/bin/python bench/soak.py [--minutes 30] [--clients 16] [--workers 2] [--threads 8]
                                   [--terminals 480]

Everything is its own and gone afterwards, as for bench/lending.py (whose world, server and
client it reuses): a throwaway PostgreSQL 15 cluster, a redis-server, a Celery worker and
gunicorn on loopback. With DATABASE_URL set it uses that PostgreSQL database instead, emptied
before and after; it refuses one whose name does not contain "bench".
"""

import argparse
import collections
import contextlib
import importlib.util
import json
import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.lending import (  # noqa: E402  (after the path is set)
    Client,
    Desk,
    Server,
    Tally,
    World,
    approved_request,
    build_world,
    check_world,
    machine_description,
    prepare_environment,
    rotations_drained,
    verify,
)
from bench.support import (  # noqa: E402
    Beat,
    BenchError,
    PostgresCluster,
    RedisServer,
    Worker,
    free_port,
    migrate_bench_database,
    process_rss_kib,
    process_tree,
    run_in_own_folder,
)

DATABASE_NAME = "nwterm_bench_soak"
WARM_UP_SECONDS = 10
SEED = 30
# What a client does next, by weight: a loan (check-out, the borrower's reveal, the return), a
# stock-take scan, or a list page.
MIX = (("loan", 3), ("scan", 4), ("list", 3))
LIST_PAGES = ("/api/v1/terminals/", "/api/v1/loans/", "/api/v1/stocktakes/")
ACTIONS = ("check-out", "reveal", "return", "scan", "list page")


@dataclass
class SoakClient:
    """One of the concurrent clients: its own slice of the terminals and its own approved
    requests (as in bench/lending.py), the counter's token and the borrower's."""

    counter: Client
    borrower: Client
    terminals: collections.deque  # (asset tag, when it was returned or None)
    requests: collections.deque
    rng: random.Random
    tallies: dict[str, Tally] = field(
        default_factory=lambda: {action: Tally() for action in ACTIONS}
    )
    served: collections.Counter = field(default_factory=collections.Counter)
    loans: int = 0

    def ready_terminal(self, desk: Desk) -> str | None:
        if self.terminals and (
            self.terminals[0][1] is None
            or (
                self.terminals[0][1] < desk.settled_through
                and self.terminals[0][0] in desk.in_storage
            )
        ):
            return self.terminals.popleft()[0]
        return None

    def ready_request(self, quantity: int) -> int | None:
        while self.requests and self.served[self.requests[0]] >= quantity:
            self.requests.popleft()
        return self.requests[0] if self.requests else None

    def record(self, action: str, status: int, body: bytes, seconds: float, ok=(200, 201)):
        if status in ok:
            self.tallies[action].seconds.append(seconds)
            return True
        self.tallies[action].error(status, body)
        return False

    def loan(self, world: World, desk: Desk, quantity: int) -> bool:
        """Check-out, reveal, return; False when no terminal or request is ready (then the
        client does something else)."""
        tag = self.ready_terminal(desk)
        request = self.ready_request(quantity)
        if tag is None or request is None:
            if tag is not None:
                self.terminals.appendleft((tag, None))
            return False
        self.served[request] += 1
        status, body, seconds = self.counter.call(
            "POST",
            "/api/v1/loans/",
            {
                "request": request,
                "terminal": tag,
                "operator_name": "Bench operator",
                "acknowledged_name": "Bench operator",
            },
        )
        if not self.record("check-out", status, body, seconds):
            return True  # the terminal's state is unknown: it is not used again
        loan = json.loads(body)["id"]
        status, body, seconds = self.borrower.call("POST", f"/api/v1/loans/{loan}/reveal/")
        self.record("reveal", status, body, seconds)
        status, body, seconds = self.counter.call(
            "POST",
            f"/api/v1/loans/{loan}/return/",
            {
                "condition": "ok",
                "cards_returned": [],
                "return_location": world.return_location,
                "handed_back_by": "Bench operator",
                "operator_signature": "Bench operator",
                "data_disposition": "destroyed",
            },
        )
        if self.record("return", status, body, seconds):
            self.loans += 1
            self.terminals.append((tag, time.perf_counter()))
        return True

    def scan(self, stocktake: int, location: str, tags: list[str]) -> None:
        status, body, seconds = self.counter.call(
            "POST",
            f"/api/v1/stocktakes/{stocktake}/scans/",
            {"location": location, "tag": self.rng.choice(tags)},
        )
        self.record("scan", status, body, seconds)

    def list_page(self) -> None:
        path = self.rng.choice(LIST_PAGES)
        status, body, seconds = self.counter.call("GET", path)
        self.record("list page", status, body, seconds)

    def run(self, soak: "Soak", deadline: float, stop: threading.Event) -> None:
        from django.conf import settings

        kinds = [kind for kind, _weight in MIX]
        weights = [weight for _kind, weight in MIX]
        while not stop.is_set() and time.perf_counter() < deadline:
            kind = self.rng.choices(kinds, weights=weights)[0]
            if kind == "loan" and self.loan(soak.world, soak.desk, settings.LENDING_MAX_QUANTITY):
                continue
            if kind == "scan":
                self.scan(soak.stocktake, soak.world.return_location, soak.world.tags)
            else:
                self.list_page()


@dataclass
class Soak:
    world: World
    desk: Desk
    stocktake: int
    clients: list[SoakClient]

    def run(self, seconds: float) -> float:
        stop = threading.Event()
        failures: list[BaseException] = []
        deadline = time.perf_counter() + seconds

        def target(client: SoakClient) -> None:
            try:
                client.run(self, deadline, stop)
            except BaseException as exc:
                failures.append(exc)
                stop.set()

        threads = [threading.Thread(target=target, args=(c,), daemon=True) for c in self.clients]
        start = time.perf_counter()
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():
                    thread.join(timeout=0.5)
        finally:
            stop.set()
        if failures:
            raise BenchError(f"a client failed: {failures[0]!r}") from failures[0]
        return time.perf_counter() - start

    def totals(self) -> dict[str, Tally]:
        totals = {action: Tally() for action in ACTIONS}
        for client in self.clients:
            for action, tally in client.tallies.items():
                totals[action].add(tally)
        return totals

    def reset(self) -> None:
        for client in self.clients:
            client.tallies = {action: Tally() for action in ACTIONS}


# Memory ---------------------------------------------------------------------------------------


def memory(server: Server, worker: Worker, beat: Beat) -> dict[str, int | None]:
    """Resident memory (KiB) of every process of the service, by role and pid."""
    rss = {}
    roots = (("gunicorn", server.process), ("celery", worker.process), ("beat", beat.process))
    for role, root in roots:
        assert root is not None
        for depth, pid in process_tree(root.pid):
            kind = "master" if depth == 0 else "worker" if role == "gunicorn" else "pool"
            name = role if role == "beat" else f"{role} {kind}"
            rss[f"{name} (pid {pid})"] = process_rss_kib(pid)
    return rss


def memory_lines(start: dict[str, int | None], end: dict[str, int | None]) -> list[str]:
    lines = [f"{'process':<36}{'RSS start':>12}{'RSS end':>12}{'growth':>12}"]
    for name in sorted(set(start) | set(end)):
        before, after = start.get(name), end.get(name)
        growth = "" if before is None or after is None else f"{(after - before) / 1024:+.1f} MB"
        lines.append(f"{name:<36}{_mb(before):>12}{_mb(after):>12}{growth:>12}")
    return lines


def _mb(kib: int | None) -> str:
    return "gone" if kib is None else f"{kib / 1024:.1f} MB"


# Report ---------------------------------------------------------------------------------------


def report(args, machine, seconds: float, totals: dict[str, Tally], loans: int) -> list[str]:
    header = f"{'action':<14}{'requests':>10}{'per s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
    lines = [
        "",
        f"Soak: {args.clients} clients for {seconds / 60:.1f} min on gunicorn "
        f"({args.workers} workers x {args.threads} threads), a Celery worker and beat, "
        "PostgreSQL, Redis",
        *machine,
        "",
        header,
        "-" * len(header),
    ]
    for action, tally in totals.items():
        lines.append(
            f"{action:<14}{tally.requests:>10}{len(tally.seconds) / seconds:>9.1f}"
            f"{tally.percentile(50):>9.1f}{tally.percentile(99):>9.1f}{tally.errors:>8}"
        )
    requests = sum(t.requests for t in totals.values())
    lines += [
        "-" * len(header),
        f"{'all':<14}{requests:>10}{requests / seconds:>9.1f}",
        "",
        f"loans (check-out, reveal, return) completed: {loans} ({loans / seconds:.1f}/s)",
    ]
    return lines


def run(args, folder: Path) -> int:
    began = time.perf_counter()
    (folder / "data").mkdir()
    redis_port = free_port()
    external = prepare_environment(folder, f"redis://127.0.0.1:{redis_port}/0")
    # The borrowers reveal once per loan, thousands of times: the reveal's rate limit (10 an
    # hour per user by default) is what the bench would measure otherwise.
    os.environ["RATE_LIMIT_REVEAL"] = "1000000/hour"
    with contextlib.ExitStack() as stack:
        stack.enter_context(RedisServer(folder, redis_port))
        cluster = None
        if not external:
            cluster = stack.enter_context(PostgresCluster(folder, free_port(), DATABASE_NAME))
            os.environ["DATABASE_URL"] = cluster.url

        import django

        django.setup()
        from django.db import connection

        from compliance.services import stocktake_open
        from core.services import api_token_issue
        from terminals.models import Location

        migrate_bench_database(stack, external=external)
        stack.callback(connection.close)
        world = build_world(args.terminals, args.clients)
        check_world(world)
        stocktake = stocktake_open(
            site=Location.objects.get(code="bench-site"),
            actor=None,
            reason="Soak",
            blind=False,
        ).pk
        borrower_tokens = [api_token_issue(user=world.contractor) for _ in range(args.clients)]
        os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
        worker = stack.enter_context(Worker("soak", 1, folder / "worker.log"))
        beat = stack.enter_context(Beat(folder, folder / "beat.log"))
        server = stack.enter_context(
            Server(free_port(), args.workers, args.threads, folder / "server.log", world.tokens[0])
        )
        rng = random.Random(SEED)
        pools = [collections.deque([approved_request(world)]) for _ in range(args.clients)]
        clients = [
            SoakClient(
                counter=Client(server.port, world.tokens[n]),
                borrower=Client(server.port, borrower_tokens[n]),
                terminals=collections.deque((tag, None) for tag in world.tags[n :: args.clients]),
                requests=pools[n],
                rng=random.Random(rng.random()),
            )
            for n in range(args.clients)
        ]
        desk = Desk(world, pools)
        soak = Soak(world, desk, stocktake, clients)
        with desk:
            soak.run(WARM_UP_SECONDS)
            warm_loans = sum(c.loans for c in clients)
            warm_errors = sum(t.errors for t in soak.totals().values())
            soak.reset()
            print(f"warm-up done: {warm_loans} loans", file=sys.stderr)
            load_before = os.getloadavg()[0]
            rss_start = memory(server, worker, beat)
            seconds = soak.run(args.minutes * 60)
            rss_end = memory(server, worker, beat)
            rotations_drained()
        if desk.failure:
            raise BenchError(f"the desk failed: {desk.failure!r}") from desk.failure
        desk.settle()
        for client in clients:
            client.counter.close()
            client.borrower.close()
        totals = soak.totals()
        loans = sum(c.loans for c in clients) - warm_loans
        problems = verify(world, sum(c.loans for c in clients))
        machine = machine_description(args, cluster, load_before)

    print("\n".join(report(args, machine, seconds, totals, loans)))
    print("")
    print("\n".join(memory_lines(rss_start, rss_end)))
    print(f"\nWhole run, setup included: {time.perf_counter() - began:.0f} s")
    errors = sum(t.errors for t in totals.values()) + warm_errors
    failures = [f"FAILED: {p}" for p in problems]
    if errors:
        failures.append(f"FAILED: {errors} requests did not answer 2xx (none allowed), e.g.")
        failures += [f"  {action}: {s}" for action, t in totals.items() for s in t.samples]
    for line in failures:
        print(line, file=sys.stderr)
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    parser.add_argument("--terminals", type=int, default=480)
    args = parser.parse_args()
    if min(args.clients, args.workers, args.threads) < 1 or args.minutes <= 0:
        parser.error("--clients, --workers and --threads must be at least 1, --minutes above 0")
    if args.terminals < 4 * args.clients:
        parser.error("--terminals must be at least 4 per client")
    if importlib.util.find_spec("gunicorn") is None:
        print("bench: gunicorn is needed: pip install --group app", file=sys.stderr)
        return 2
    return run_in_own_folder("nwterm-bench-soak-", lambda folder: run(args, folder))


if __name__ == "__main__":
    sys.exit(main())
