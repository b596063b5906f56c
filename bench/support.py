"""What the benchmarks share: their error, ports, waiting for a process, a throwaway
PostgreSQL cluster, Redis and a Celery worker, CPU time of a process tree, and running in a
folder of their own."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
START_TIMEOUT = 60


class BenchError(Exception):
    """The bench could not run, or the world it built is not what it should be."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, *, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            raise BenchError(f"{what} did not start within {START_TIMEOUT} s{tail(log)}")
        time.sleep(0.2)


def tail(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    return "\n--- " + str(log) + " (end) ---\n" + log.read_text(errors="replace")[-4000:]


def stop_process(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class PostgresCluster:
    """A throwaway cluster in the bench's folder. initdb refuses to run as root, so as root the
    cluster belongs to the postgres user. Its own session: Ctrl-C reaches the bench only, which
    then stops the cluster before deleting its folder."""

    def __init__(self, folder: Path, port: int, database: str):
        self.data, self.port, self.database = folder / "pg" / "data", port, database
        self.log = folder / "pg" / "server.log"
        self.url = f"postgres://postgres@127.0.0.1:{port}/{database}"
        self.started = False

    def _run(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(  # noqa: S603
            [*prefix, *args], check=True, capture_output=True, text=True, **kwargs
        )

    def __enter__(self) -> "PostgresCluster":
        if not (PG_BIN / "initdb").exists():
            raise BenchError(f"PostgreSQL 15 is needed in {PG_BIN}: apt-get install postgresql")
        pg_folder = self.data.parent
        pg_folder.mkdir()
        if os.geteuid() == 0:
            pg_folder.parent.chmod(0o755)
            shutil.chown(pg_folder, "postgres", "postgres")
        try:
            self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A",
                      "trust", "-E", "UTF8", "--no-locale", "--no-sync")  # fmt: skip
            # Durability off: the cluster is thrown away after the run.
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {pg_folder} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off"
            )
            # Set first: an interrupted start may still leave a server running.
            self.started = True
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                      "-o", options, "start", start_new_session=True)  # fmt: skip
            subprocess.run(  # noqa: S603
                [str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U",
                 "postgres", self.database],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            self.__exit__()
            raise BenchError(f"PostgreSQL did not start: {exc.stderr}{tail(self.log)}") from exc
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        if self.started:
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
            self.started = False


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """utime + stime of one process (fields 14 and 15 of /proc/PID/stat), in seconds; with
    `reaped`, also cutime + cstime (16 and 17): the time of its children that have exited."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0  # it exited
    fields = stat.rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def process_tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its children (gunicorn's workers, PostgreSQL's backends), as
    /proc counts it: the live children's own, and the exited ones' as their parent reaped them
    (Django closes a connection after CONN_MAX_AGE; its backend exits)."""
    return _cpu_seconds(pid, reaped=True) + sum(_cpu_seconds(child) for child in _children(pid))


def process_tree(pid: int) -> list[tuple[int, int]]:
    """(depth, pid) of a process and all its descendants, the process first."""
    tree, level = [], [pid]
    depth = 0
    while level:
        tree += [(depth, p) for p in level]
        level = [child for p in level for child in _children(p)]
        depth += 1
    return tree


def process_rss_kib(pid: int) -> int | None:
    """Resident set size of a process (VmRSS, KiB); None once it has exited."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


class RedisServer:
    def __init__(self, folder: Path, port: int):
        self.folder, self.port = folder, port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "RedisServer":
        if shutil.which("redis-server") is None:
            raise BenchError("redis-server is needed: apt-get install redis-server")
        self.process = subprocess.Popen(  # noqa: S603
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",  # noqa: S607
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self._answers, what="redis-server")
        return self

    def __exit__(self, *exc_info) -> None:
        stop_process(self.process)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class Worker:
    """`celery worker` as deployed (prefork pool, log level info), with the bench's environment;
    with a connector delay, the same app started through the tests' slow target."""

    def __init__(self, name: str, concurrency: int, log: Path, connector_delay: float = 0.0):
        self.name, self.concurrency, self.log = name, concurrency, log
        self.connector_delay = connector_delay
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Worker":
        from tests.support import slow_target

        app, env = "config", dict(os.environ)
        if self.connector_delay:
            app = slow_target.APP
            env[slow_target.SECONDS_VARIABLE] = str(self.connector_delay)
        args = [sys.executable, "-m", "celery", "-A", app, "worker", "-l", "info",
                "--concurrency", str(self.concurrency), "-n", f"{self.name}@%h"]  # fmt: skip
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603
                args, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        wait_until(
            lambda: self.process.poll() is None and b" ready." in self.log.read_bytes(),
            what=f"worker {self.name}",
            log=self.log,
        )
        return self

    def __exit__(self, *exc_info) -> None:
        stop_process(self.process)

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the worker's processes so far (its pool included)."""
        return process_tree_cpu_seconds(self.process.pid) if self.process else float("nan")


class Beat:
    """`celery beat` as deployed beside the workers: the audit sealer every second, the sweeps
    and the settle step on their schedules."""

    def __init__(self, folder: Path, log: Path):
        self.folder, self.log = folder, log
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Beat":
        args = [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "info",
                "--schedule", str(self.folder / "beat-schedule")]  # fmt: skip
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603
                args, cwd=REPO_ROOT, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT
            )
        wait_until(
            lambda: self.process.poll() is None and b"beat: Starting" in self.log.read_bytes(),
            what="celery beat",
            log=self.log,
        )
        return self

    def __exit__(self, *exc_info) -> None:
        stop_process(self.process)


def migrate_bench_database(stack, *, external: bool) -> None:
    """Migrate the bench's database (after django.setup()); one given through DATABASE_URL
    (`external`) is emptied now and again when `stack` closes."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if external:
        call_command("flush", interactive=False, verbosity=0)
        stack.callback(call_command, "flush", interactive=False, verbosity=0)


def run_in_own_folder(prefix: str, run: Callable[[Path], int]) -> int:
    """Run a bench in a temporary folder removed afterwards. Ctrl-C and a kill (even in the
    background, where the shell ignores SIGINT) end it through the clean-up; a BenchError is
    printed and answers 2."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        return run(folder)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(folder, ignore_errors=True)
