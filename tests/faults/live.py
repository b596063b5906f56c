"""A live service for the fault-injection tests, on the test database (committed data: the tests
are transactional) or on a PostgreSQL cluster of the test's own: gunicorn serving the project,
Celery workers forked from a warm parent (tests.faults.zygote), beat, and an HTTP client that
never waits long. Each part can be SIGKILLed, stopped and started again."""

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from tests.support.polling import free_port, wait_for
from tests.support.processes import REPO, service_env, stop_process

PG_BIN = Path("/usr/lib/postgresql/15/bin")
ACCESS_LOG = '%(t)s %(p)s "%(r)s" %(s)s %(M)sms'  # gunicorn's, in the test's folder
REQUEST_TIMEOUT = 15  # seconds: an answer later than this is a hang


def live_env(folder: Path, redis_url: str, **extra: str) -> dict[str, str]:
    """The test process's database, keys and audit witness for the processes it starts, with
    sweeps fast enough for a test."""
    values = {
        "ALLOWED_HOSTS": "127.0.0.1",
        "AUDIT_SIGNING_KEY": settings.AUDIT_SIGNING_KEY,
        "AUDIT_WITNESS_FILE": settings.AUDIT_WITNESS_FILE,
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "INFO",
        # A killed worker's messages come back after this; the sweeper resends what is stale.
        "CELERY_VISIBILITY_TIMEOUT": "5",
        "ROTATION_RESEND_AFTER_SECONDS": "3",
        "ROTATION_SWEEP_SECONDS": "1",
        "SETTLE_RETURNS_SECONDS": "1",
        "ROTATION_RETRY_BASE_DELAY_SECONDS": "1",
        "ROTATION_RETRY_MAX_DELAY_SECONDS": "2",
        # The sweepers of half-done check-outs and retirements (manage.py recover runs them too).
        "CHECKOUT_STUCK_SECONDS": "5",
        "CHECKOUT_SWEEP_SECONDS": "2",
        "RETIRED_ACCOUNTS_SWEEP_SECONDS": "2",
        # A sealer killed while it holds the lease (it may be waiting at a gap) holds up the
        # sealing only this long; 30 s by default would outlast a test.
        "AUDIT_SEAL_LEASE_SECONDS": "3",
    }
    values.update(extra)
    return service_env(folder, redis_url, **values)


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@dataclass
class Answer:
    status: int  # 0: no answer (the connection failed or was cut)
    body: bytes
    seconds: float

    def json(self):
        return json.loads(self.body)


class Client:
    """One request per connection (gunicorn's sync worker closes it anyway)."""

    def __init__(self, port: int, token: str | None = None):
        self.port, self.token = port, token

    def call(self, method: str, path: str, payload: dict | None = None) -> Answer:
        headers = {"Accept": "application/json", "Accept-Language": "en"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        body = None
        if payload is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(payload).encode()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        start = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return Answer(response.status, response.read(), time.perf_counter() - start)
        except TimeoutError:
            return Answer(-1, b"timed out", time.perf_counter() - start)
        except (OSError, http.client.HTTPException) as exc:
            return Answer(0, repr(exc).encode(), time.perf_counter() - start)
        finally:
            connection.close()


class Gunicorn:
    """gunicorn with one worker process (sync, or gthread with `threads`), the application
    preloaded: SIGKILLing the worker is a web process dying mid-request; the master forks a
    new one at once."""

    def __init__(self, env: dict[str, str], log: Path, *, threads: int = 1):
        self.env, self.log, self.threads = env, log, threads
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> "Gunicorn":
        args = [sys.executable, "-m", "gunicorn", "tests.faults.live_wsgi:application",
                "--bind", f"127.0.0.1:{self.port}", "--workers", "1", "--preload",
                "--graceful-timeout", "2", "--timeout", "60",
                "--access-logfile", "-", "--access-logformat", ACCESS_LOG]  # fmt: skip
        if self.threads > 1:
            args += ["--worker-class", "gthread", "--threads", str(self.threads)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                args, cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        wait_for(self.answers, timeout=60, what="gunicorn", log=self.log)
        return self

    def answers(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{self.log.read_text(errors='replace')[-3000:]}")
        return Client(self.port).call("GET", "/api/v1/").status > 0

    def worker_pid(self) -> int | None:
        children = _children(self.process.pid) if self.process else []
        return children[0] if children else None

    def kill_worker(self) -> int:
        """SIGKILL the process serving requests; answers its pid."""
        pid = self.worker_pid()
        assert pid is not None, "gunicorn has no worker"
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_replaced(self, old_pid: int) -> None:
        def replaced() -> bool:
            pid = self.worker_pid()
            return pid is not None and pid != old_pid and self.answers()

        wait_for(replaced, timeout=30, what="gunicorn's new worker", log=self.log, interval=0.05)

    def stop(self) -> None:
        stop_process(self.process)


class Workers:
    """Celery workers forked from a warm parent, one at a time: `start()`, `kill()` (SIGKILL
    the whole worker) and `start()` again; `app` may be tests.support.slow_target."""

    def __init__(self, env: dict[str, str], folder: Path, *, app: str = "config.celery"):
        self.env, self.folder, self.app = env, folder, app
        self.log = folder / "zygote.log"
        self.parent: subprocess.Popen | None = None
        self.pid: int | None = None
        self.started = 0

    def _ask(self, line: str) -> str:
        assert self.parent is not None and self.parent.stdin and self.parent.stdout
        self.parent.stdin.write(line + "\n")
        self.parent.stdin.flush()
        answer = self.parent.stdout.readline().strip()
        assert answer, f"the workers' parent died:\n{self.log.read_text(errors='replace')}"
        return answer

    def open(self) -> "Workers":
        self.parent = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.zygote", self.app],
            cwd=REPO, env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log.open("ab"), text=True,
        )  # fmt: skip
        ready = self.parent.stdout.readline().strip()  # type: ignore[union-attr]
        assert ready == "ready", f"the workers' parent did not start:\n{self.log.read_text()}"
        return self

    def worker_log(self, n: int | None = None) -> Path:
        return self.folder / f"worker-{self.started if n is None else n}.log"

    def start(self) -> None:
        self.started += 1
        log = self.worker_log()
        self.pid = int(self._ask(f"start w{self.started} {log}").split()[1])
        wait_for(
            lambda: log.exists() and b" ready." in log.read_bytes(),
            timeout=60, what=f"worker w{self.started}", log=log, interval=0.05,
        )  # fmt: skip

    def kill(self) -> None:
        assert self.pid is not None
        self._ask(f"kill {self.pid}")
        self.pid = None

    def close(self) -> None:
        if self.parent and self.parent.poll() is None:
            if self.pid is not None:
                self.kill()
            assert self.parent.stdin
            self.parent.stdin.close()
            self.parent.wait(timeout=15)
        self.parent = None


class Beat:
    """`celery beat`, as deployed beside the workers (never killed by these tests)."""

    def __init__(self, env: dict[str, str], folder: Path):
        self.env, self.folder = env, folder
        self.log = folder / "beat.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> "Beat":
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "info",
             "--schedule", str(self.folder / "beat-schedule")],
            cwd=REPO, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        return self

    def stop(self) -> None:
        stop_process(self.process)


class PostgresCluster:
    """A throwaway PostgreSQL 15 cluster of the test's own, which the test stops and starts
    again (the suite's own cluster serves every other test). As root, it belongs to the
    postgres user: initdb refuses to run as root."""

    def __init__(self):
        # Not under pytest's tmp_path: the postgres user cannot enter root's folders there.
        self.folder = Path(tempfile.mkdtemp(prefix="nwterm-faults-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.log = self.folder / "server.log"

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        result = subprocess.run(
            [*prefix, *args], capture_output=True, text=True, timeout=60, check=False
        )
        if result.returncode:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {result.stderr}\n{log}")
        return result

    def create(self) -> "PostgresCluster":
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"PostgreSQL 15 is needed in {PG_BIN}: apt-get install postgresql")
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A",
                  "trust", "-E", "UTF8", "--no-locale", "--no-sync")  # fmt: skip
        self.start()
        return self

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                  "-o", options, "start")  # fmt: skip

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def copy_database(self, source: dict) -> None:
        """The test database as it is now (schema and rows) into a database of the same name
        here: quicker than migrating."""
        name = source["NAME"]
        env = dict(os.environ, PGPASSWORD=source.get("PASSWORD") or "")
        subprocess.run(
            [str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U",
             "postgres", name],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        dump = subprocess.run(
            [str(PG_BIN / "pg_dump"), "-h", source["HOST"] or "127.0.0.1", "-p",
             str(source["PORT"]), "-U", source["USER"], "--no-owner", "--no-privileges", name],
            check=True, capture_output=True, timeout=60, env=env,
        )  # fmt: skip
        subprocess.run(
            [str(PG_BIN / "psql"), "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
             str(self.port), "-U", "postgres", name],
            input=dump.stdout, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
