"""Real processes for the asynchronous rotation tests: a Redis server of the test's own (so a
test can stop it), Celery workers that can be SIGKILLed, and one-off Django scripts."""

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.support.polling import free_port, wait_for

REPO = Path(settings.BASE_DIR)


def stop_process(process: subprocess.Popen | None, timeout: float = 15) -> None:
    """SIGTERM, and SIGKILL if it has not ended within `timeout` seconds."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class RedisServer:
    def __init__(self, folder: Path):
        if shutil.which("redis-server") is None:
            pytest.fail(
                "redis-server is needed (apt-get install redis-server); scripts/test installs it"
            )
        self.folder, self.port, self.process = folder, free_port(), None
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.monitor = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(self._answers, timeout=15, what="redis-server")

    def record_commands(self, path: Path) -> None:
        """Every command the broker receives (messages included) goes to `path`."""
        self.monitor = subprocess.Popen(
            ["redis-cli", "-p", str(self.port), "monitor"],
            stdout=path.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        for process in (self.monitor, self.process):
            if process and process.poll() is None:
                process.terminate()
                process.wait(timeout=15)
        self.process = self.monitor = None


def test_database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return (
        f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    )


def service_env(folder: Path, redis_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATA_DIR=str(folder),
        DATABASE_URL=test_database_url(),
        REDIS_URL=redis_url,
        # the same keys as the test process, so both sides read each other's secrets
        CREDENTIAL_KEYS=settings.CREDENTIAL_KEYS,
        SECRET_KEY=settings.SECRET_KEY,
        **extra,
    )
    return env


class Worker:
    """`celery worker` with the project's app (`config`), or another module that runs it
    (tests.support.slow_target: the same app with a slow target)."""

    # Started and not stopped yet: a test that fails before it stops its worker must not leave
    # it writing to the next test's database (tests/conftest.py stops them after each test).
    running: set["Worker"] = set()

    def __init__(
        self,
        name: str,
        env: dict[str, str],
        log: Path,
        *,
        beat: bool = False,
        app: str = "config",
    ):
        self.name, self.env, self.log, self.beat, self.app = name, env, log, beat, app
        self.process = None

    def start(self) -> "Worker":
        args = [sys.executable, "-m", "celery", "-A", self.app, "worker", "-l", "info",
                "--pool", "solo", "-n", f"{self.name}@%h",
                "--without-mingle", "--without-gossip"]  # fmt: skip
        if self.beat:
            args += ["--beat", "--schedule", str(Path(self.env["DATA_DIR"]) / "beat-schedule")]
        self.process = subprocess.Popen(
            args, cwd=REPO, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )
        Worker.running.add(self)
        wait_for(
            lambda: b" ready." in self.log.read_bytes(),
            timeout=60,
            what=f"worker {self.name}",
            log=self.log,
        )
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no acknowledgement, nothing handed back to the broker."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=15)
        Worker.running.discard(self)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        Worker.running.discard(self)

    @classmethod
    def stop_all(cls) -> None:
        for worker in list(cls.running):
            worker.stop()


def run_django(code: str, env: dict[str, str], log: Path) -> str:
    """Run Python with Django set up in a fresh process (the producer side of the broker)."""
    script = "import django\ndjango.setup()\n" + code
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    with log.open("a") as handle:
        handle.write(result.stdout + result.stderr)
    assert result.returncode == 0, result.stderr
    return result.stdout
