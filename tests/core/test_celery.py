"""A real Celery worker runs our tasks, on Redis and on the embedded filesystem broker."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.polling import wait_for
from tests.support.processes import stop_process

pytestmark = pytest.mark.services

REPO = Path(settings.BASE_DIR)
TIMEOUT = 60

SEND_PING = """
import json, sys
import django
django.setup()
from core.tasks import ping
print(json.dumps(ping.delay(sys.argv[1]).get(timeout=int(sys.argv[2]))))
"""


def service_env(data_dir: Path, redis_url: str | None) -> dict[str, str]:
    env = dict(os.environ, DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="config.settings")
    # Eager mode would run the task in the sender and prove nothing about a worker.
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size)
        for p in folder.rglob("*")
        if p.is_file()
    }


def ping_through_a_real_worker(tmp_path: Path, redis_url: str | None) -> dict:
    env = service_env(tmp_path, redis_url)
    name = f"nwterm-test-{uuid.uuid4().hex[:8]}"
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "info",
             "--concurrency", "1", "-n", f"{name}@%h",
             "--without-mingle", "--without-gossip", "--without-heartbeat"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:

        def ready() -> bool:
            if worker.poll() is not None:
                pytest.fail(f"the worker exited:\n{log_path.read_text()}")
            return b" ready." in log_path.read_bytes()

        wait_for(ready, timeout=TIMEOUT, what="the worker to start", log=log_path)

        sender = subprocess.run(
            [sys.executable, "-c", SEND_PING, "hello", str(TIMEOUT)],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT + 30,
        )  # fmt: skip
        assert sender.returncode == 0, sender.stderr + log_path.read_text()
        result = json.loads(sender.stdout.strip().splitlines()[-1])
        assert result["worker"].startswith(f"{name}@")
        return result
    finally:
        stop_process(worker, timeout=30)


def test_a_worker_on_redis_answers_a_ping(tmp_path):
    redis_url = os.environ.get("TEST_REDIS_URL")
    if not redis_url:
        pytest.fail(
            "TEST_REDIS_URL is not set: run `bash scripts/test`, which starts Redis for this"
        )
    repo_celery = tree(REPO / "data" / "celery")

    assert ping_through_a_real_worker(tmp_path, redis_url)["pong"] == "hello"
    assert tree(REPO / "data" / "celery") == repo_celery


def test_a_worker_on_the_embedded_filesystem_broker_answers_a_ping_inside_its_data_dir(tmp_path):
    repo_celery = tree(REPO / "data" / "celery")

    assert ping_through_a_real_worker(tmp_path, None)["pong"] == "hello"
    # The message and its result went through DATA_DIR, and the checkout's data/ was left alone.
    assert list((tmp_path / "celery" / "results").iterdir())
    assert (tmp_path / "celery" / "queue").is_dir()
    assert tree(REPO / "data" / "celery") == repo_celery
