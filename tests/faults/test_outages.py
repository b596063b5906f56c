"""Redis, then PostgreSQL, stopped and started again under a stream of requests to a live
gunicorn: while one is down every answer comes within a few seconds and is either the action
done (2xx) or a clear 503 with nothing written; never a 500, never a hang, never an error for
something that was committed. Once both are back, everything recovers by itself (no
`manage.py recover`): requests succeed again and the rotations and deletions asked for while
they were down are done. PostgreSQL here is a cluster of the test's own, with a copy of the
test database: the suite's own cluster is not restarted under the other tests."""

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from django.db import connection, connections

from core.audit import verify_chain
from credentials.models import Account, AccountState, Rotation, RotationStatus
from credentials.targets import target_system_create
from lending.models import AccessRequest, Loan, LoanStatus
from terminals.models import Terminal
from tests.faults.live import Beat, Client, Gunicorn, PostgresCluster, Workers, live_env
from tests.faults.world import (
    World,
    build_world,
    checkout_body,
    request_body,
    return_body,
)
from tests.support.processes import RedisServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql_only]

ANSWER_WITHIN = 5.0  # seconds: a slower answer while something is down is a hang
DOWN_ANSWERS = 8  # answers collected while each one is down, for at least DOWN_SECONDS
DOWN_SECONDS = 2.0
RECOVERY_SECONDS = 30


@dataclass
class Sent:
    phase: str
    kind: str
    key: str  # what the action was about: a purpose marker, request id, asset tag, loan id
    status: int
    seconds: float
    started: float = 0.0
    body: bytes = b""


@dataclass
class Stream:
    """A client thread that repeats one round (a request submitted and approved, a terminal
    lent against it and returned, another retired, two list pages) until stopped, noting every
    answer with the phase it came in."""

    world: World
    port: int
    phase: str = "before"
    began: float = field(default_factory=time.monotonic)
    marks: list[tuple[str, float]] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    rounds_ok: Counter = field(default_factory=Counter)
    stop: threading.Event = field(default_factory=threading.Event)
    failure: BaseException | None = None

    def __post_init__(self):
        self.contractor = Client(self.port, self.world.contractor_token)
        self.approver = Client(self.port, self.world.approver_token)
        self.counter = Client(self.port, self.world.counter_token)
        self.lendable = list(self.world.tags[: len(self.world.tags) // 2])
        self.retirable = list(self.world.tags[len(self.world.tags) // 2 :])

    def __setattr__(self, name, value):
        if name == "phase" and hasattr(self, "marks"):
            self.marks.append((value, round(time.monotonic() - self.began, 1)))
        super().__setattr__(name, value)

    def call(self, client: Client, kind: str, key: str, method: str, path: str, payload=None):
        phase, started = self.phase, time.monotonic()
        answer = client.call(method, path, payload)
        self.sent.append(
            Sent(phase, kind, key, answer.status, answer.seconds, started, answer.body[:200])
        )
        return answer

    def round(self, n: int) -> bool:
        ok = []
        purpose = f"outage-round-{n}"
        answer = self.call(
            self.contractor, "submit", purpose, "POST", "/api/v1/access-requests/",
            request_body(self.world.declaration, purpose),
        )  # fmt: skip
        ok.append(answer.status == 201)
        if answer.status == 201:
            pk = answer.json()["id"]
            answer = self.call(
                self.approver, "approve", str(pk), "POST",
                f"/api/v1/access-requests/{pk}/approve/", {},
            )  # fmt: skip
            ok.append(answer.status == 200)
        if self.lendable:
            tag = self.lendable.pop(0)
            request = self.world.requests[n % len(self.world.requests)]
            answer = self.call(
                self.counter, "checkout", tag, "POST", "/api/v1/loans/",
                checkout_body(request, tag),
            )  # fmt: skip
            ok.append(answer.status == 201)
            if answer.status == 201:
                loan = answer.json()["id"]
                answer = self.call(
                    self.counter, "return", str(loan), "POST", f"/api/v1/loans/{loan}/return/",
                    return_body(self.world.cabinet),
                )  # fmt: skip
                ok.append(answer.status == 200)
        if self.retirable and n % 2 == 0:
            tag = self.retirable.pop(0)
            answer = self.call(
                self.counter, "retire", tag, "POST", f"/api/v1/terminals/{tag}/retire/",
                {"reason": "老朽化"},
            )  # fmt: skip
            ok.append(answer.status == 200)
        for path in ("/api/v1/loans/", "/api/v1/terminals/"):
            ok.append(self.call(self.counter, "list", path, "GET", path).status == 200)
        return all(ok)

    def run(self) -> None:
        n = 0
        try:
            while not self.stop.is_set():
                phase = self.phase
                if self.round(n) and phase == self.phase:
                    self.rounds_ok[phase] += 1
                else:
                    self.stop.wait(0.05)  # as a client would, before trying again
                n += 1
        except BaseException as exc:
            self.failure = exc

    def answers_in(self, phase: str) -> list[Sent]:
        return [s for s in self.sent if s.phase == phase]


def stay_down(stream: Stream) -> None:
    """Long enough for a few rounds of requests to meet the outage."""
    down_since, phase = time.monotonic(), stream.phase
    wait_until(
        lambda: len(stream.answers_in(phase)) >= DOWN_ANSWERS
        and time.monotonic() - down_since >= DOWN_SECONDS,
        30, f"answers while {phase}", stream,
    )  # fmt: skip


def wait_until(predicate, seconds: float, what: str, stream: Stream) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert stream.failure is None, stream.failure
        assert time.monotonic() < deadline, f"{what} within {seconds} s; answers: " + str(
            Counter((s.phase, s.kind, s.status) for s in stream.sent)
        )
        time.sleep(0.05)


@contextmanager
def database_on(cluster: PostgresCluster) -> Iterator[None]:
    """The test process's connection moved to the test's own cluster (same database name),
    and back to the suite's afterwards."""
    saved = dict(connection.settings_dict)
    connections.close_all()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=cluster.port, USER="postgres")
    connection.settings_dict["PASSWORD"] = ""
    try:
        yield
    finally:
        connections.close_all()
        connection.settings_dict.update(saved)


def committed(sent: Sent) -> bool:
    """Whether the action this answer was about is in the database."""
    if sent.kind == "submit":
        return AccessRequest.objects.filter(purpose=sent.key).exists()
    if sent.kind == "approve":
        return AccessRequest.objects.filter(pk=sent.key, status="approved").exists()
    if sent.kind == "checkout":
        return Loan.objects.filter(
            terminal__asset_tag=sent.key, status__in=[LoanStatus.OPEN, LoanStatus.RETURNED]
        ).exists()
    if sent.kind == "return":
        return Loan.objects.filter(pk=sent.key, status=LoanStatus.RETURNED).exists()
    if sent.kind == "retire":
        return Terminal.objects.filter(asset_tag=sent.key, status=Terminal.Status.RETIRED).exists()
    raise AssertionError(sent.kind)


def work_done() -> bool:
    return not (
        Rotation.objects.exclude(status=RotationStatus.SUCCEEDED).exists()
        or Account.objects.filter(terminal__status=Terminal.Status.RETIRED)
        .exclude(state=AccountState.DELETED)
        .exists()
        or Loan.objects.filter(status=LoanStatus.CHECKING_OUT).exists()
    )


def test_redis_and_postgresql_restarts_answer_503_and_recover_by_themselves(
    cabinet, facilities, security, contractor, tmp_path
):
    cluster = PostgresCluster()
    redis = RedisServer(tmp_path)
    try:
        cluster.create()
        cluster.copy_database(connection.settings_dict)
        with database_on(cluster):
            run_outages(cluster, redis, cabinet, facilities, security, contractor, tmp_path)
    finally:
        redis.stop()
        cluster.destroy()


def run_outages(cluster, redis, cabinet, facilities, security, contractor, tmp_path):
    target = target_system_create(
        actor=None, code="callcenter", name="コールセンターシステム", connector="local"
    )
    world = build_world(
        target=target,
        cabinet=cabinet,
        counter=facilities,
        security=security,
        contractor=contractor,
        terminals=24,
        requests=2,
    )
    redis.start()
    env = live_env(tmp_path, redis.url)
    workers = Workers(env, tmp_path).open()
    beat = Beat(env, tmp_path)
    web = Gunicorn(env, tmp_path / "web.log", threads=4)
    stream = Stream(world, 0)
    thread = None
    try:
        workers.start()
        beat.start()
        web.start()
        stream = Stream(world, web.port)
        thread = threading.Thread(target=stream.run, daemon=True)
        thread.start()
        wait_until(lambda: stream.rounds_ok["before"] >= 1, 20, "a round before", stream)

        stream.phase = "redis stopping"
        redis.stop()
        stream.phase = "redis down"
        stay_down(stream)
        stream.phase = "redis starting"
        redis.start()
        stream.phase = "redis back"
        wait_until(lambda: stream.rounds_ok["redis back"] >= 1, RECOVERY_SECONDS,
                   "a whole round after Redis came back", stream)  # fmt: skip

        stream.phase = "postgresql stopping"
        cluster.stop()
        stream.phase = "postgresql down"
        stay_down(stream)
        stream.phase = "postgresql starting"
        cluster.start()
        stream.phase = "postgresql back"
        wait_until(lambda: stream.rounds_ok["postgresql back"] >= 1, RECOVERY_SECONDS,
                   "a whole round after PostgreSQL came back", stream)  # fmt: skip
        stream.stop.set()
        thread.join(timeout=30)
        connections.close_all()  # the test process's own connection did not survive the restart
        wait_until(work_done, RECOVERY_SECONDS, "the work asked for while down done", stream)
    finally:
        stream.stop.set()
        if thread is not None:
            thread.join(timeout=30)
        web.stop()
        beat.stop()
        workers.close()

    answers = Counter((s.phase, s.kind, s.status) for s in stream.sent)
    print(sorted(answers.items()), stream.marks)
    # 202: committed, but the database or the broker went away before the answer was built.
    wrong = [s for s in stream.sent if s.status not in (200, 201, 202, 503)]
    assert not wrong, f"answers other than 2xx or 503: {wrong[:5]}\n{answers}"
    slow = [s for s in stream.sent if s.seconds > ANSWER_WITHIN]
    assert not slow, f"answers slower than {ANSWER_WITHIN} s: {slow[:5]}"
    # With PostgreSQL down nothing can be done: every answer says so.
    down = stream.answers_in("postgresql down")
    assert down and {s.status for s in down} == {503}, [s for s in down if s.status != 503]
    # An answer says exactly what happened: done (2xx) and committed, or refused (503) and
    # nothing written.
    for sent in stream.sent:
        if sent.kind != "list":
            assert committed(sent) == (sent.status in (200, 201, 202)), sent
    _checked, broken = verify_chain()
    assert broken is None, f"audit chain broken at {broken.seq}: {broken.reason}"
