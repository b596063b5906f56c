"""Rotations through real Celery workers on a real Redis: a worker SIGKILLed mid-rotation, and a
broker that is down when a return asks for a rotation. Afterwards every rotation has completed
exactly once, the target and the database agree, and no generated password appears in the
database dump, the logs or the broker's traffic."""

import io
import json
import subprocess

import pytest
from django.core.management import call_command
from django.db import connection

from core.models import AuditEvent
from credentials.accounts import account_create
from credentials.models import Account, AccountState, Rotation, RotationStatus, SecretVersion
from credentials.secrets import secret_plaintext
from credentials.targets import connector_for, target_system_create
from tests.factories import make_terminal
from tests.support import slow_target
from tests.support.processes import RedisServer, Worker, run_django, service_env, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]

ACCOUNTS = 8

REQUEST_RETURN_ROTATIONS = """
from credentials.models import Account
from credentials.rotation import rotation_request
for account in Account.objects.filter(target_system__code={code!r}).order_by("pk"):
    rotation_request(account=account, reason="return", actor=None)
print("requested")
"""


@pytest.fixture
def redis(tmp_path):
    server = RedisServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture(params=["local", "ldap"])
def target(request, db):
    if request.param == "local":
        return target_system_create(actor=None, code="local-t", name="Local", connector="local")
    slapd = request.getfixturevalue("slapd")
    ldap = slapd.settings(base_dn=slapd.new_branch())
    return target_system_create(
        actor=None,
        code="ldap-t",
        name="Directory",
        connector="ldap",
        ldap_url=ldap.url,
        ldap_base_dn=ldap.base_dn,
        ldap_bind_dn=ldap.bind_dn,
        ldap_bind_password=ldap.bind_password,
    )


def accounts_with_first_rotation(target, location) -> list[Account]:
    # Tasks run in process here (tests/conftest.py): each account gets its first secret now.
    for _ in range(ACCOUNTS):
        account_create(actor=None, target_system=target, terminal=make_terminal(location=location))
    accounts = list(Account.objects.filter(target_system=target))
    assert all(a.state == AccountState.LOCKED for a in accounts)
    return accounts


def return_rotations():
    return Rotation.objects.filter(reason="return")


def assert_target_and_database_agree(target) -> None:
    accounts = list(Account.objects.filter(target_system=target).select_related("current_version"))
    connector = connector_for(target)
    assert sorted(connector.list_login_ids()) == sorted(a.login_id for a in accounts)
    for account in accounts:
        assert account.state == AccountState.LOCKED
        assert not SecretVersion.objects.filter(account=account, status="pending").exists()
        password = secret_plaintext(account.current_version)
        assert not connector.verify(account.login_id, password) or target.connector == "local"
        connector.unlock(account.login_id)
        if target.connector == "ldap":
            assert connector.verify(account.login_id, password), (
                "the directory has another password"
            )
        connector.lock(account.login_id)


def assert_each_rotation_completed_exactly_once() -> None:
    for rotation in return_rotations():
        assert rotation.status == RotationStatus.SUCCEEDED
        events = AuditEvent.objects.filter(action="rotation.succeeded", object_id=str(rotation.pk))
        assert events.count() == 1


def all_plaintext_passwords() -> set[str]:
    return {secret_plaintext(v) for v in SecretVersion.objects.all()}


def assert_no_plaintext_in(passwords: set[str], places: dict[str, bytes]) -> None:
    assert passwords
    for name, content in places.items():
        text = content.decode("utf-8", errors="replace")
        leaked = [p for p in passwords if p in text or json.dumps(p)[1:-1] in text]
        assert not leaked, f"a generated password appears in {name}"


def database_dump() -> bytes:
    out = io.StringIO()
    call_command("dumpdata", stdout=out)
    dump = out.getvalue().encode()
    if connection.vendor == "sqlite":
        # The files themselves (old pages too), read by another process: closing a file of an
        # open SQLite database in this one would drop this process's locks on it (POSIX locks
        # are per process), and the next process to close it would delete the WAL under us.
        name = connection.settings_dict["NAME"]
        for path in (name, f"{name}-wal"):
            dump += subprocess.run(["cat", path], capture_output=True, check=False).stdout
    return dump


@pytest.mark.parametrize(
    "coalesce",
    [0, 49],
    ids=["one rotation per message", "a worker takes up the rotations waiting"],
)
def test_a_worker_killed_mid_rotation_loses_nothing_and_repeats_nothing(
    target, cabinet, redis, tmp_path, coalesce
):
    accounts = accounts_with_first_rotation(target, cabinet)
    redis.start()
    redis.record_commands(tmp_path / "broker.log")
    env = service_env(
        tmp_path,
        redis.url,
        # the workers' targets are slow: a pause before each push holds the crash window open
        **{slow_target.SECONDS_VARIABLE: "0.4"},
        CELERY_VISIBILITY_TIMEOUT="4",
        ROTATION_RESEND_AFTER_SECONDS="4",
        ROTATION_SWEEP_SECONDS="2",
        ROTATION_COALESCE=str(coalesce),
    )
    log = tmp_path / "processes.log"
    run_django(REQUEST_RETURN_ROTATIONS.format(code=target.code), env, log)
    assert return_rotations().count() == ACCOUNTS

    first = Worker("first", env, log, app=slow_target.APP).start()

    def in_flight():
        # its new values are stored as pending, and the connector has not finished
        return return_rotations().filter(
            status=RotationStatus.REQUESTED, pending_version__isnull=False
        )

    # One at a time, some finish before the kill; taken up together, the whole batch is in
    # flight (stored as pending, being pushed) when it comes.
    finished_first = 2 if coalesce == 0 else 0
    wait_for(
        lambda: return_rotations().filter(status=RotationStatus.SUCCEEDED).count()
        >= finished_first
        and in_flight().count() >= (1 if coalesce == 0 else 2),
        timeout=60, what="rotations in flight", log=log,
    )  # fmt: skip
    first.kill()
    assert in_flight().exists(), "the kill did not land in the middle of a rotation"
    assert return_rotations().filter(status=RotationStatus.SUCCEEDED).count() < ACCOUNTS

    second = Worker("second", env, log, beat=True, app=slow_target.APP).start()
    try:
        wait_for(
            lambda: return_rotations().filter(status=RotationStatus.SUCCEEDED).count() == ACCOUNTS,
            timeout=120, what="every rotation after the restart", log=log,
        )  # fmt: skip
    finally:
        second.stop()
        redis.stop()

    assert_each_rotation_completed_exactly_once()
    assert_target_and_database_agree(target)
    assert {a.login_id for a in Account.objects.all()}.isdisjoint(a.login_id for a in accounts)
    assert_no_plaintext_in(
        all_plaintext_passwords(),
        {
            "the database dump": database_dump(),
            "the worker and producer logs": log.read_bytes(),
            "the broker's traffic": (tmp_path / "broker.log").read_bytes(),
        },
    )


def test_a_rotation_asked_for_while_the_broker_is_down_completes_after_it_is_back(
    target, cabinet, redis, tmp_path
):
    accounts_with_first_rotation(target, cabinet)
    env = service_env(
        tmp_path, redis.url, ROTATION_RESEND_AFTER_SECONDS="1", ROTATION_SWEEP_SECONDS="1"
    )
    log = tmp_path / "processes.log"
    # Redis is not running: the return commits, the message cannot be sent.
    run_django(REQUEST_RETURN_ROTATIONS.format(code=target.code), env, log)
    assert return_rotations().count() == ACCOUNTS
    assert not return_rotations().exclude(status=RotationStatus.REQUESTED).exists()
    assert not return_rotations().filter(dispatched_at__isnull=False).exists()
    assert "the sweeper will resend it" in log.read_text()

    redis.start()
    worker = Worker("after-outage", env, log, beat=True).start()
    try:
        wait_for(
            lambda: return_rotations().filter(status=RotationStatus.SUCCEEDED).count() == ACCOUNTS,
            timeout=120, what="the rotations after the broker came back", log=log,
        )  # fmt: skip
    finally:
        worker.stop()

    assert_each_rotation_completed_exactly_once()
    assert_target_and_database_agree(target)
