"""SIGKILL the web process and, separately, the worker at random moments (seeded) during a stream
of check-outs, returns, revocations and retirements through the API, on PostgreSQL, Redis and a
real slapd. After `manage.py recover` and the worker's drain, nothing is half done: every loan
is open, returned or abandoned, every return rotated exactly once, every account that is not
lent locked on the directory with every password it ever had refused, retired accounts deleted,
nothing stuck, and the audit chain verifies."""

import random
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.db.models import Count, Q
from ldap3 import NONE, Connection, Server
from ldap3.core.exceptions import LDAPException
from ldap3.utils.dn import escape_rdn

from core.audit import verify_chain
from core.models import AuditEvent
from credentials.models import (
    Account,
    AccountState,
    Rotation,
    RotationReason,
    RotationStatus,
    SecretVersion,
)
from credentials.secrets import secret_plaintext
from credentials.targets import connector_for, target_system_create
from lending.models import Loan, LoanStatus
from terminals.models import Terminal
from tests.faults.live import Beat, Client, Gunicorn, Workers, live_env
from tests.faults.world import World, build_world, checkout_body, return_body
from tests.support import slow_target
from tests.support.processes import REPO, RedisServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql_only]

SEED = 13
ACTIONS = 210
KILLS = 20  # of the web process, and as many of the worker
TERMINALS = 30
MAX_RETIRED = 8
DRAIN_SECONDS = 45


@dataclass
class Outcome:
    kind: str
    status: int
    web_killed: bool
    body: bytes


@dataclass
class Stream:
    """The client side: one action at a time, chosen from the database's state (the truth,
    whatever the last answer was), with kills at the moments the seed picks."""

    world: World
    web: Gunicorn
    workers: Workers
    rng: random.Random
    outcomes: list[Outcome] = field(default_factory=list)
    exhausted: set[int] = field(default_factory=set)
    durations: dict[str, list[float]] = field(default_factory=dict)
    worker_kills: int = 0
    web_kills: int = 0

    def __post_init__(self):
        self.counter = Client(self.web.port, self.world.counter_token)
        self.security = Client(self.web.port, self.world.security_token)

    # What can be done now ---------------------------------------------------------------

    def choices(self):
        ours = Terminal.objects.filter(asset_tag__in=self.world.tags)
        # In storage with every account ready (staff pick another while a rotation runs).
        stored = list(
            ours.filter(status=Terminal.Status.IN_STORAGE)
            .exclude(accounts__state__in=[AccountState.ROTATION_PENDING, AccountState.UNLOCKED])
            .values_list("asset_tag", flat=True)
        )
        out = list(
            Loan.objects.filter(terminal__in=ours, status=LoanStatus.OPEN).values_list(
                "pk", "revoked_at"
            )
        )
        retired = ours.filter(status=Terminal.Status.RETIRED).count()
        request = self.request_with_room()
        options: list[tuple[float, str, object]] = []
        if stored and request is not None:
            options.append((5, "checkout", (request, self.rng.choice(stored))))
        if out:
            options.append((4, "return", self.rng.choice(out)[0]))
        unrevoked = [pk for pk, revoked_at in out if revoked_at is None]
        if unrevoked:
            options.append((1.5, "revoke", self.rng.choice(unrevoked)))
        if stored and retired < MAX_RETIRED:
            options.append((1, "retire", self.rng.choice(stored)))
        return options

    def request_with_room(self) -> int | None:
        used = dict(
            Loan.objects.filter(request__in=self.world.requests)
            .values_list("request")
            .annotate(n=Count("pk", filter=~Q(status=LoanStatus.ABANDONED)))
        )
        for pk in self.world.requests:
            if pk not in self.exhausted and used.get(pk, 0) < 20:
                return pk
        return None

    def next_action(self):
        deadline = time.monotonic() + 30
        while not (options := self.choices()):
            # Everything is out or waiting for its rotation and the settle sweep.
            assert time.monotonic() < deadline, "nothing could be done for 30 s"
            time.sleep(0.1)
        weights = [weight for weight, _kind, _arg in options]
        _weight, kind, arg = self.rng.choices(options, weights=weights)[0]
        return kind, arg

    def send(self, kind: str, arg):
        if kind == "checkout":
            request, tag = arg
            return self.counter.call("POST", "/api/v1/loans/", checkout_body(request, tag))
        if kind == "return":
            return self.counter.call(
                "POST", f"/api/v1/loans/{arg}/return/", return_body(self.world.cabinet)
            )
        if kind == "revoke":
            return self.security.call(
                "POST", f"/api/v1/loans/{arg}/revoke/", {"reason": "端末の不正使用の疑い"}
            )
        return self.counter.call("POST", f"/api/v1/terminals/{arg}/retire/", {"reason": "老朽化"})

    # The run ----------------------------------------------------------------------------

    def run(self) -> None:
        web_kills = set(self.rng.sample(range(5, ACTIONS), KILLS))
        worker_kills = set(self.rng.sample(range(5, ACTIONS), KILLS))
        worker_killer: threading.Thread | None = None
        for n in range(ACTIONS):
            kind, arg = self.next_action()
            if n in worker_kills:
                if worker_killer is not None:
                    worker_killer.join()
                # At a random moment while this action and the next run; a replacement starts
                # at once (a supervisor's restart).
                delay = self.rng.uniform(0, 0.6)
                worker_killer = threading.Thread(target=self.kill_worker, args=(delay,))
                worker_killer.start()
            if n in web_kills:
                answer = self.send_and_kill_web(kind, arg)
            else:
                answer = self.send(kind, arg)
                if answer.status in (200, 201):
                    self.durations.setdefault(kind, []).append(answer.seconds)
            if answer.status == 409 and kind == "checkout" and b"request" in answer.body:
                self.exhausted.add(arg[0])
            self.outcomes.append(Outcome(kind, answer.status, n in web_kills, answer.body[:300]))
        if worker_killer is not None:
            worker_killer.join()

    def send_and_kill_web(self, kind: str, arg):
        seen = sorted(self.durations.get(kind, [0.15]))
        typical = seen[len(seen) // 2]
        killed: list[int] = []
        timer = threading.Timer(
            self.rng.uniform(0, 1.2 * typical), lambda: killed.append(self.web.kill_worker())
        )
        timer.start()
        answer = self.send(kind, arg)
        timer.join()
        self.web.wait_replaced(killed[0])
        self.web_kills += 1
        return answer

    def kill_worker(self, delay: float) -> None:
        threading.Event().wait(delay)  # the random moment
        self.workers.kill()
        self.worker_kills += 1
        self.workers.start()

    def unexpected(self) -> list[Outcome]:
        """Answers that are wrong whatever was killed: a 5xx, a hang, a refusal other than
        409, or no answer when the web process was not killed during the request."""
        return [
            o
            for o in self.outcomes
            if not (o.status in (200, 201, 409) or (o.status == 0 and o.web_killed))
        ]


def ldap_target(slapd):
    ldap = slapd.settings(base_dn=slapd.new_branch())
    return target_system_create(
        actor=None,
        code="ldap-faults",
        name="ディレクトリ",
        connector="ldap",
        ldap_url=ldap.url,
        ldap_base_dn=ldap.base_dn,
        ldap_bind_dn=ldap.bind_dn,
        ldap_bind_password=ldap.bind_password,
    )


def binds(target, login_id: str, password: str) -> bool:
    """Whether slapd accepts these credentials (a plain ldap3 bind, as a borrower's would)."""
    dn = f"uid={escape_rdn(login_id)},{target.ldap_base_dn}"
    try:
        conn = Connection(
            Server(target.ldap_url, get_info=NONE, connect_timeout=2),
            user=dn,
            password=password,
            receive_timeout=5,
        )
        try:
            return bool(conn.bind())
        finally:
            conn.unbind()
    except LDAPException:
        return False


def recover(env: dict, log: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(
        # The stream is over: a check-out still unfinished now is stuck, however recent.
        [sys.executable, "manage.py", "recover", "--stuck-after", "0"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    with log.open("a") as handle:
        handle.write(result.stdout + result.stderr)
    return result


def settled(target) -> bool:
    return not (
        Rotation.objects.filter(status=RotationStatus.REQUESTED).exists()
        or Loan.objects.filter(status=LoanStatus.CHECKING_OUT).exists()
        or Account.objects.filter(terminal__status=Terminal.Status.RETIRED)
        .exclude(state=AccountState.DELETED)
        .exists()
        # the sealer caught up: after a kill that left its lease, once the lease expired
        or AuditEvent.objects.filter(seq__isnull=True).exists()
    )


def wait_settled(target, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if settled(target):
            return True
        time.sleep(0.25)
    return settled(target)


def test_killed_web_and_worker_processes_leave_nothing_half_done(
    slapd, cabinet, facilities, security, contractor, tmp_path
):
    target = ldap_target(slapd)
    world = build_world(
        target=target,
        cabinet=cabinet,
        counter=facilities,
        security=security,
        contractor=contractor,
        terminals=TERMINALS,
        requests=8,
    )
    redis = RedisServer(tmp_path)
    redis.start()
    env = live_env(tmp_path, redis.url, **{slow_target.SECONDS_VARIABLE: "0.1"})
    workers = Workers(env, tmp_path, app=slow_target.APP).open()
    beat = Beat(env, tmp_path)
    web = Gunicorn(env, tmp_path / "web.log")
    try:
        workers.start()
        beat.start()
        web.start()
        stream = Stream(world, web, workers, random.Random(SEED))
        began = time.monotonic()
        stream.run()
        timings = {"stream": time.monotonic() - began}
        recovered = recover(env, tmp_path / "recover.log")
        timings["recover"] = time.monotonic() - began - timings["stream"]
        drained = wait_settled(target, DRAIN_SECONDS)
        timings["drain"] = time.monotonic() - began - timings["stream"] - timings["recover"]
    finally:
        web.stop()
        beat.stop()
        workers.close()
        redis.stop()

    kinds = Counter(o.kind for o in stream.outcomes)
    statuses = Counter((o.kind, o.status) for o in stream.outcomes)
    summary = (
        f"actions {dict(kinds)}, answers {dict(statuses)}, web kills {stream.web_kills}, "
        f"worker kills {stream.worker_kills}; seconds {timings}; medians "
        + str({kind: sorted(d)[len(d) // 2] for kind, d in stream.durations.items()})
    )
    print(summary)
    assert len(stream.outcomes) >= 200 and stream.web_kills == KILLS
    assert stream.worker_kills == KILLS, summary
    assert not stream.unexpected(), f"{summary}\n{stream.unexpected()[:5]}"
    assert recovered.returncode == 0, f"manage.py recover failed:\n{recovered.stderr[-3000:]}"
    assert drained, "work still pending after the drain:\n" + "\n".join(pending_work())

    # Every loan is open, returned or abandoned; nothing is stuck.
    loans = Loan.objects.filter(terminal__asset_tag__in=world.tags)
    recovered_loans = AuditEvent.objects.filter(
        action="loan.abandoned", details__recovered=True
    ).count()
    print(f"loans {Counter(loans.values_list('status', flat=True))}, {recovered_loans} "
          "check-outs abandoned by a sweeper or manage.py recover")  # fmt: skip
    assert set(loans.values_list("status", flat=True)) <= {
        LoanStatus.OPEN,
        LoanStatus.RETURNED,
        LoanStatus.ABANDONED,
    }
    assert not Terminal.objects.filter(status=Terminal.Status.RESERVED).exists()
    for terminal in Terminal.objects.filter(status=Terminal.Status.LENT):
        assert loans.filter(terminal=terminal, status=LoanStatus.OPEN).exists(), terminal
    assert not SecretVersion.objects.filter(status="pending").exists()
    assert not Account.objects.filter(
        state__in=[AccountState.ROTATION_PENDING, AccountState.ROTATION_FAILED]
    ).exists()
    assert set(Rotation.objects.values_list("status", flat=True)) == {RotationStatus.SUCCEEDED}

    # Every return rotated each account of its terminal before the terminal went out again
    # (a rotation already open when it came back, a revocation's, counts), and no rotation was
    # applied twice: one success event and one new secret version each.
    returned = loans.filter(status=LoanStatus.RETURNED).select_related("return_confirmation")
    assert returned.count() >= 20, summary
    for loan in returned:
        back_at = loan.return_confirmation.returned_at
        next_out = (
            loans.filter(terminal=loan.terminal_id, checked_out_at__gt=back_at)
            .exclude(status=LoanStatus.ABANDONED)
            .order_by("checked_out_at")
            .values_list("checked_out_at", flat=True)
            .first()
        )
        for account in Account.objects.filter(terminal=loan.terminal_id):
            rotated = SecretVersion.objects.filter(account=account, became_current_at__gt=back_at)
            if next_out is not None:
                rotated = rotated.filter(became_current_at__lte=next_out)
            assert rotated.exists(), f"loan {loan.pk}: {account} not rotated after its return"
    for account in Account.objects.filter(target_system=target):
        succeeded = Rotation.objects.filter(account=account, status=RotationStatus.SUCCEEDED)
        versions = SecretVersion.objects.filter(account=account, became_current_at__isnull=False)
        assert versions.count() == succeeded.count(), account
    for rotation in Rotation.objects.all():
        events = AuditEvent.objects.filter(action="rotation.succeeded", object_id=str(rotation.pk))
        assert events.count() == 1, rotation
    for loan in loans.filter(revoked_at__isnull=False):
        assert Rotation.objects.filter(
            account__terminal=loan.terminal_id,
            reason=RotationReason.REVOKED,
            requested_at__gte=loan.revoked_at,
        ).exists(), f"revoked loan {loan.pk} was not rotated"

    # On the directory: lent accounts open with their current password, every other one
    # locked, every password ever issued and superseded refused, retired accounts gone.
    lent_out = set(
        loans.filter(status=LoanStatus.OPEN, revoked_at__isnull=True).values_list(
            "terminal_id", flat=True
        )
    )
    accounts = Account.objects.filter(target_system=target).select_related("current_version")
    for account in accounts.exclude(state=AccountState.DELETED):
        assert account.current_version is not None, account
        password = secret_plaintext(account.current_version)
        if account.terminal_id in lent_out:
            assert account.state == AccountState.UNLOCKED, account
            assert binds(target, account.login_id, password), f"{account} lent but refused"
        else:
            assert account.state == AccountState.LOCKED, account
            assert not binds(target, account.login_id, password), f"{account} is not locked"
    for version in SecretVersion.objects.filter(account__target_system=target).exclude(
        pk__in=accounts.values("current_version")
    ):
        assert not binds(target, version.login_id, secret_plaintext(version)), version
    on_directory = set(connector_for(target).list_login_ids())
    kept = set(accounts.exclude(state=AccountState.DELETED).values_list("login_id", flat=True))
    assert on_directory == kept
    retired = Terminal.objects.filter(status=Terminal.Status.RETIRED)
    assert retired.exists(), summary
    assert not accounts.filter(terminal__in=retired).exclude(state=AccountState.DELETED).exists()

    checked, broken = verify_chain()
    assert broken is None, f"audit chain broken at {broken.seq}: {broken.reason}"
    assert checked > ACTIONS


def pending_work() -> list[str]:
    return [
        f"rotations requested: {Rotation.objects.filter(status=RotationStatus.REQUESTED).count()}",
        f"loans checking out: {Loan.objects.filter(status=LoanStatus.CHECKING_OUT).count()}",
        "accounts of retired terminals not deleted: "
        + str(
            Account.objects.filter(terminal__status=Terminal.Status.RETIRED)
            .exclude(state=AccountState.DELETED)
            .count()
        ),
        f"audit events not sealed: {AuditEvent.objects.filter(seq__isnull=True).count()}",
    ]
