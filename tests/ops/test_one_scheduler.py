"""Exactly one scheduler: two real `celery beat` processes on one database and one Redis send
each periodic run once (only the lease holder sends), and the standby takes over, without
repeating a run, when the holder dies."""

import json
import sys
from pathlib import Path

import pytest
import redis as redis_client
from django.utils import timezone

from core.models import Lease
from core.scheduler import LEASE_NAME
from tests.support.polling import wait_for
from tests.support.processes import REPO, RedisServer, service_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]

QUEUE = "ops-tick"
LEASE_SECONDS = 3


class Beat:
    def __init__(self, name: str, env: dict[str, str], folder: Path):
        import subprocess

        self.name, self.log = name, folder / f"beat-{name}.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.ops.beat_app", "beat", "-l", "info",
             "-s", str(folder / f"beat-{name}-schedule"), "--pidfile="],
            cwd=REPO, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip

    def says(self, text: str) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"beat {self.name} exited:\n{self.log.read_text()[-3000:]}")
        return text.encode() in self.log.read_bytes()

    def stop(self, signal_number: int = 15) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal_number)
            self.process.wait(timeout=30)


@pytest.fixture
def redis(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def beats(tmp_path, redis):
    started: list[Beat] = []
    env = service_env(
        tmp_path, redis.url, SCHEDULER_LEASE_SECONDS=str(LEASE_SECONDS), OPS_TICK_QUEUE=QUEUE
    )

    def start(name: str) -> Beat:
        beat = Beat(name, env, tmp_path)
        started.append(beat)
        return beat

    yield start
    for beat in started:
        beat.stop(9)


def sent_by(redis: RedisServer) -> dict[int, int]:
    """Messages waiting in the queue, counted by the process id of the beat that sent each."""
    counts: dict[int, int] = {}
    for raw in redis_client.Redis.from_url(redis.url).lrange(QUEUE, 0, -1):
        origin = json.loads(raw)["headers"]["origin"]  # "gen<pid>@<host>"
        pid = int(origin.removeprefix("gen").split("@")[0])
        counts[pid] = counts.get(pid, 0) + 1
    return counts


def test_only_the_lease_holder_sends_and_a_standby_takes_over_when_it_stops_or_dies(redis, beats):
    first = beats("first")
    wait_for(lambda: sent_by(redis).get(first.process.pid, 0) >= 2, timeout=60,
             what="the first beat's runs", log=first.log)  # fmt: skip
    assert first.says("scheduler lease held: sending the due tasks")

    # Two more started by mistake: both stand by while the first sends several 0.5 s runs.
    standby = [beats("second"), beats("third")]
    for beat in standby:
        wait_for(lambda beat=beat: beat.says("held by another beat: standing by"), timeout=60,
                 what=f"the {beat.name} beat to stand by", log=beat.log)  # fmt: skip
    from_first = sent_by(redis)[first.process.pid]
    wait_for(lambda: sent_by(redis)[first.process.pid] >= from_first + 4, timeout=30,
             what="more runs of the first beat", log=first.log)  # fmt: skip
    assert set(sent_by(redis)) == {first.process.pid}

    # A clean stop releases the lease at once (it would otherwise hold for 2 s or more).
    first.stop(15)
    lease = Lease.objects.get(name=LEASE_NAME)
    released = lease.expires_at <= timezone.now()
    assert released or f":{first.process.pid}:" not in lease.holder, lease.holder
    sent_by_first = sent_by(redis)[first.process.pid]

    def next_holder() -> Beat | None:
        sending = [b for b in standby if sent_by(redis).get(b.process.pid, 0) >= 2]
        return sending[0] if sending else None

    wait_for(next_holder, timeout=LEASE_SECONDS + 30, what="a standby to take over")
    holder = next_holder()
    (other,) = [b for b in standby if b is not holder]
    assert other.process.pid not in sent_by(redis)

    # The holder dies (SIGKILL: the lease is not released, it has to expire).
    holder.stop(9)
    sent_by_holder = sent_by(redis)[holder.process.pid]
    wait_for(lambda: sent_by(redis).get(other.process.pid, 0) >= 2, timeout=LEASE_SECONDS + 30,
             what="the last beat to take over", log=other.log)  # fmt: skip
    assert sent_by(redis)[first.process.pid] == sent_by_first
    assert sent_by(redis)[holder.process.pid] == sent_by_holder
