"""Personas (one per role, plus a contractor of another company) and a small inventory."""

import gc
import os
import shutil
import subprocess
import threading
import time
import traceback
import uuid
import warnings

import pytest
from django.test import Client
from django.utils import translation
from rest_framework.test import APIClient

from core.crypto import reset_keyring
from core.models import Organization
from core.roles import Role
from tests.factories import (
    PASSWORD,
    OrganizationFactory,
    make_card,
    make_location,
    make_terminal,
    make_user,
)
from tests.support.keys import KEY_A

# Playwright's sync API runs an event loop in the test thread; Django's ORM refuses to run
# beside one unless told it is safe (it is: the test thread is the only one using it).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config, items):
    """Race tests need PostgreSQL's row locks; scripts/test runs them in its PostgreSQL pass."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    kept = [item for item in items if not item.get_closest_marker("postgresql_only")]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


@pytest.fixture(scope="session", autouse=True)
def _database_wrappers_remember_their_maker():
    """Each database wrapper keeps the stack that made it, for the teardown's warning about a
    connection left open (a wrapper made outside the test thread's `connections`)."""
    from django.db.backends.base.base import BaseDatabaseWrapper

    original = BaseDatabaseWrapper.__init__

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        test = os.environ.get("PYTEST_CURRENT_TEST", "no test")
        self.made_by = f"{test}\n" + "".join(traceback.format_stack(limit=14)[:-1])

    BaseDatabaseWrapper.__init__ = __init__  # type: ignore[method-assign]
    yield
    BaseDatabaseWrapper.__init__ = original  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's, and before it drops the test database (PostgreSQL): wait a little for
    other sessions on it to end (a live server's request thread closes its connection only once
    the browser has hung up), then name any that remain, instead of the bare "1 other session"
    of a failed DROP DATABASE."""
    yield
    from django.db import DEFAULT_DB_ALIAS, connection, connections

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock():
        main = connections[DEFAULT_DB_ALIAS]
        _close_this_threads_other_connections(main)
        others = _other_sessions(connection, wait_seconds=5)
        if others:
            others += _close_stray_connections(main)
        connection.close()
    if others:
        warnings.warn(
            "sessions still on the test database at its teardown: " + "; ".join(others),
            stacklevel=1,
        )


def _other_sessions(connection, *, wait_seconds: float) -> list[str]:
    # A thread that ended without closing its connection leaves it to the garbage collector.
    gc.collect()
    deadline = time.monotonic() + wait_seconds
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT pid, application_name, client_port, backend_start, state, "
                "left(query, 200) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            rows = cursor.fetchall()
        if not rows or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    threads = ", ".join(sorted(t.name for t in threading.enumerate()))
    return [f"{row!r}, {_process_of(row[2])} (threads here: {threads})" for row in rows]


def _open_wrappers(main) -> list:
    """The database wrappers of this process, other than `main`, that hold a connection."""
    from django.db.backends.base.base import BaseDatabaseWrapper

    # The live server loads config.wsgi, which freezes what exists then (gc.freeze): frozen
    # objects are not listed by gc.get_objects() until they are unfrozen.
    gc.unfreeze()
    # type(), not isinstance(): the heap holds dead weak proxies, which raise when asked.
    return [
        wrapper
        for wrapper in gc.get_objects()
        if issubclass(type(wrapper), BaseDatabaseWrapper)
        and wrapper is not main
        and wrapper.connection
    ]


def _close_this_threads_other_connections(main) -> None:
    """Between its calls, Playwright's sync API leaves its event loop set as the test thread's
    running loop, and Django then keeps the thread's connections in a context variable instead
    of the thread-local. So the test thread has two connections to the test database, and a
    test set up on one may be torn down on the other, which Django's teardown then never
    closes. Both are the test thread's own: the one `main` is not is closed here."""
    for wrapper in _open_wrappers(main):
        if wrapper._thread_ident == threading.get_ident():
            wrapper.close()


def _close_stray_connections(main) -> list[str]:
    """The database wrappers of this process, other than the test thread's, that still hold a
    connection: named by the thread that opened them, then closed, so that the drop goes on."""
    threads = {thread.ident: thread.name for thread in threading.enumerate()}
    found = []
    for wrapper in _open_wrappers(main):
        opener = threads.get(wrapper._thread_ident, "a thread that has ended")
        made_by = getattr(wrapper, "made_by", "(not recorded)")
        found.append(f"a connection of this process opened in {opener}, made at\n{made_by}")
        wrapper.connection.close()
    return found


def _process_of(client_port: int | None) -> str:
    """Which process holds the session's end of the connection (this one, or a child)."""
    if client_port is None or not shutil.which("ss"):
        return "process unknown"
    found = subprocess.run(
        ["ss", "-Htnp", f"sport = :{client_port}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"{found or 'no socket found'} (this process is {os.getpid()})"


@pytest.fixture(autouse=True, scope="session")
def _tasks_run_in_the_test_process():
    """Tasks enqueued by code under test run at once, in process. The tests that claim
    asynchronous behaviour start real workers in subprocesses, which this does not touch."""
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture(autouse=True)
def _no_worker_outlives_its_test():
    """A test that fails before it stops its Celery worker does not leave it running against
    the next test's database."""
    from tests.support.processes import Worker

    yield
    Worker.stop_all()


@pytest.fixture(autouse=True)
def _english_outside_requests():
    """Messages built outside a request (services, tasks) are read in English by the tests;
    pages choose their language per request, as for users (Japanese by default)."""
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _audit_witness_of_this_test(settings, tmp_path):
    """The audit checkpoints of each test go to its own witness file: a witness that outlived
    its database would report the next test database as history rewritten."""
    settings.AUDIT_WITNESS_FILE = str(tmp_path / "audit_witness.jsonl")


@pytest.fixture(autouse=True)
def _a_cache_of_this_test(settings):
    """Sign-in failures, lockouts and rate limits count in the cache: each test starts with
    its own, empty (the settings' shared cache would carry counts from test to test, and from
    other runs on this machine)."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"test-{uuid.uuid4().hex}",
        }
    }


@pytest.fixture(autouse=True)
def _force_login_passes_the_second_factor(monkeypatch):
    """Tests sign in with `force_login` (as_user, api_as, the permission matrix): for security
    officers and facilities staff it also passes the second factor, as the person does after
    the password (their authenticator's id in the session, as django-otp's `login` puts it).
    `client.login(...)` does not: a test of the second factor itself starts from there."""
    from django_otp import DEVICE_ID_SESSION_KEY

    from core.otp import REQUIRED_KEY
    from tests.support.otp import verify_session

    original = Client.force_login

    def force_login(self, user, backend=None):
        original(self, user, backend)
        if self.session.get(REQUIRED_KEY) and not self.session.get(DEVICE_ID_SESSION_KEY):
            verify_session(self, user)

    monkeypatch.setattr(Client, "force_login", force_login)


@pytest.fixture
def keys(settings):
    """`keys(spec)`: the process's encryption keys are now CREDENTIAL_KEYS=spec (key A to start
    with); the settings' own keys again afterwards."""

    def use(spec):
        settings.CREDENTIAL_KEYS = spec
        reset_keyring()

    use(KEY_A)
    yield use
    reset_keyring()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Every persona is a new user: the production hasher's deliberate slowness adds up.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def operator(db) -> Organization:
    return OrganizationFactory(
        code="tepco-pg", name="送配電株式会社", kind=Organization.Kind.NETWORK_OPERATOR
    )


@pytest.fixture
def contractor_org(db) -> Organization:
    return OrganizationFactory(
        code="kanto-denko", name="関東電工", kind=Organization.Kind.CONTRACTOR
    )


@pytest.fixture
def other_contractor_org(db) -> Organization:
    return OrganizationFactory(
        code="other-works", name="他社工業", kind=Organization.Kind.CONTRACTOR
    )


@pytest.fixture
def facilities(db, operator):
    return make_user("fiona", Role.FACILITIES, operator)


@pytest.fixture
def security(db, operator):
    return make_user("sam", Role.SECURITY, operator)


@pytest.fixture
def auditor(db, operator):
    return make_user("audrey", Role.AUDITOR, operator)


@pytest.fixture
def contractor(db, contractor_org):
    return make_user("carl", Role.CONTRACTOR, contractor_org)


@pytest.fixture
def outsider(db, other_contractor_org):
    return make_user("olga", Role.CONTRACTOR, other_contractor_org)


@pytest.fixture
def site(operator):
    return make_location(code="hq", name="本店", custodian=operator)


@pytest.fixture
def cabinet(site):
    building = make_location(kind="building", parent=site, code="hq-b1", name="本館")
    floor = make_location(kind="floor", parent=building, code="hq-b1-3f", name="3F")
    room = make_location(kind="room", parent=floor, code="hq-b1-3f-sec", name="端末保管室")
    return make_location(kind="cabinet", parent=room, code="hq-cab-1", name="保管庫1")


@pytest.fixture
def open_room(site):
    """A room on the site that is not secured: terminals there break the storage rule."""
    building = make_location(kind="building", parent=site, code="hq-b2", name="別館")
    floor = make_location(kind="floor", parent=building, code="hq-b2-1f", name="1F")
    return make_location(
        kind="room", parent=floor, code="hq-b2-lobby", name="ロビー", secured=False
    )


# A small inventory and signed-in clients, shared by the page and API tests of every app.


@pytest.fixture
def second_cabinet(cabinet):
    return make_location(kind="cabinet", parent=cabinet.parent, code="hq-cab-2", name="保管庫2")


@pytest.fixture
def terminal(cabinet):
    return make_terminal(location=cabinet, asset_tag="NW-00001", hostname="nwpc-0001")


@pytest.fixture
def card(cabinet, terminal):
    return make_card(location=cabinet, terminal=terminal, card_number="IC-000001")


@pytest.fixture
def as_user(client):
    """`as_user(user)`: the test client logged in as that persona."""

    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def api() -> APIClient:
    # Messages are asserted in English; a test of the Japanese answers asks for them.
    return APIClient(HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def api_as(api):
    """`api_as(user)`: the API client signed in as that user (session authentication)."""

    def sign_in(user) -> APIClient:
        api.force_login(user)
        return api

    return sign_in
