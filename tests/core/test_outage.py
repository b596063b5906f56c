"""The outside world down: a database that cannot be reached answers 503 (a page in the user's
language, JSON under /api/), never 500; a broker that cannot be reached never fails a request
that committed, and a broker that accepts connections and never answers fails a publish within
seconds instead of hanging the request."""

import datetime
import socket
import threading
import time
from contextlib import contextmanager
from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError, connections
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerOperationalError

from config.celery import app as celery_app
from core.queue import enqueue
from credentials.accounts import account_create
from credentials.models import Rotation, RotationStatus
from credentials.rotation import rotation_resend_stale
from credentials.targets import target_system_create
from lending import services
from lending.models import AccessRequest, RequestStatus
from terminals.models import Location, Terminal
from tests.factories import make_terminal, make_user

DOWN = "connection to server at 127.0.0.1, port 1 failed: Connection refused"


@contextmanager
def database_down(client, error: type[Exception] = OperationalError):
    """Every statement from here on fails as with a PostgreSQL that is not running. The client
    answers as a server would, instead of raising what a middleware raised (the session it
    reads before the view)."""
    client.raise_request_exception = False
    with mock.patch.object(type(connections["default"]), "cursor", side_effect=error(DOWN)):
        yield


def test_a_page_answers_503_in_english_when_the_database_is_down(as_user, facilities):
    client = as_user(facilities)
    with database_down(client):
        response = client.get(reverse("terminals:list"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    page = response.content.decode()
    assert '<html lang="en">' in page
    assert "Service unavailable" in page
    assert "Nothing was saved by this request" in page


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_a_page_answers_503_in_japanese_by_default(as_user, facilities, error):
    client = as_user(facilities)
    with database_down(client, error):
        response = client.get(reverse("terminals:list"))
    assert response.status_code == 503
    assert '<html lang="ja">' in response.content.decode()


def test_the_api_answers_503_with_a_json_detail_when_the_database_is_down(api_as, facilities):
    client = api_as(facilities)
    with database_down(client):
        response = client.post(
            "/api/v1/terminals/", {"asset_tag": "NW-09999", "hostname": "x"}, format="json"
        )
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert "cannot be reached" in response.json()["detail"]


class _FailingOnTheWayOut:
    """Stands for a middleware that reaches the database after the view (the session saved)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        self.get_response(request)
        raise OperationalError(DOWN)


def test_a_database_error_in_another_middleware_answers_503_too(client, settings):
    at = settings.MIDDLEWARE.index("core.outage.OutageMiddleware") + 1
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE[:at],
        f"{__name__}._FailingOnTheWayOut",
        *settings.MIDDLEWARE[at:],
    ]
    client.raise_request_exception = False
    response = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 503
    assert "Service unavailable" in response.content.decode()


def test_any_other_error_is_still_a_500(client, settings):
    class Bug(Exception):
        pass

    with mock.patch("django.contrib.auth.views.LoginView.get", side_effect=Bug("a bug")):
        client.raise_request_exception = False
        response = client.get(reverse("login"))
    assert response.status_code == 500


# The broker ---------------------------------------------------------------------------------


@contextmanager
def broker_at(url: str, **transport_options):
    """Tasks go to the broker at `url` as messages (not run in the test process)."""
    conf = celery_app.conf
    saved = (conf.task_always_eager, conf.broker_url, conf.broker_transport_options)
    conf.task_always_eager = False
    conf.broker_url = url
    conf.broker_transport_options = transport_options
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    try:
        yield
    finally:
        conf.task_always_eager, conf.broker_url, conf.broker_transport_options = saved
        celery_app._pool = None
        celery_app.amqp._producer_pool = None


@pytest.fixture
def broker_down():
    with broker_at("redis://127.0.0.1:1/0", socket_connect_timeout=1, socket_timeout=1):
        yield


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_submitting_approving_and_retiring_commit_and_answer_normally(
    broker_down, client, operator, contractor, facilities, security, site, cabinet
):
    """The commit's callbacks run inside the request here (a real transaction): a task that
    cannot be sent is logged and left to the sweepers, and the user sees what happened."""
    terminal = make_terminal(location=cabinet, asset_tag="NW-00001")
    target = target_system_create(actor=None, code="cc", name="cc", connector="local")
    account_create(actor=None, target_system=target, terminal=terminal)
    # The first rotation could not be sent: it waits for the sweeper, unsent.
    assert Rotation.objects.get().dispatched_at is None
    declaration = services.declaration_declare(actor=security, title="台風10号", sites=[site])

    client.force_login(contractor)
    needed = timezone.localtime() + datetime.timedelta(days=2)
    response = client.post(
        reverse("lending:request-create"),
        {
            "declaration": declaration.pk,
            "work_site": "千葉県館山市",
            "quantity": "1",
            "operators": "山田 太郎",
            "purpose": "停電復旧",
            "needed_until": needed.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert response.status_code == 302
    request = AccessRequest.objects.get()

    approver = make_user("aki", "facilities", operator)
    client.force_login(approver)
    response = client.post(reverse("lending:request-approve", args=[request.pk]))
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED

    client.force_login(facilities)
    response = client.post(
        reverse("terminals:status", args=[terminal.asset_tag]),
        {"to_status": "retired", "reason": "基板故障", "confirm": "1"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Terminal.objects.get(pk=terminal.pk).status == Terminal.Status.RETIRED


def _silent_server():
    """A TCP server that accepts connections and never answers (a broker hung, or half-open
    behind a firewall): without a socket timeout a publish waits for ever."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []

    def accept():
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return server, held


def test_a_broker_that_never_answers_fails_a_publish_within_its_socket_timeout(db):
    server, held = _silent_server()
    port = server.getsockname()[1]
    try:
        with broker_at(
            f"redis://127.0.0.1:{port}/0", socket_connect_timeout=0.5, socket_timeout=0.5
        ):
            started = time.monotonic()
            sent = enqueue("core.tasks.ping", "hello")
            took = time.monotonic() - started
    finally:
        # close() alone does not wake the thread blocked in accept(); shutdown() does.
        server.shutdown(socket.SHUT_RDWR)
        server.close()
        for conn in held:
            conn.close()
    assert sent is False
    assert took < 4  # two tries (the publish retry policy) of half a second each, not for ever


def test_a_broker_error_before_the_commit_answers_503(as_user, facilities):
    client = as_user(facilities)
    with mock.patch(
        "terminals.views.render", side_effect=BrokerOperationalError("Error 111 connecting")
    ):
        response = client.get(reverse("terminals:list"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 503


@pytest.mark.django_db(transaction=True)
def test_a_database_gone_between_the_commit_and_the_dispatch_fails_nothing(cabinet):
    """The rotation's row is the record: the request that committed it succeeds, and the
    sweeper sends what the callback could not."""
    terminal = make_terminal(location=cabinet, asset_tag="NW-00001")
    target = target_system_create(actor=None, code="cc", name="cc", connector="local")
    with mock.patch(
        "credentials.rotation.rotations_dispatch", side_effect=OperationalError(DOWN)
    ) as dispatch:
        account = account_create(actor=None, target_system=target, terminal=terminal)
    assert dispatch.called
    rotation = Rotation.objects.get(account=account)
    assert (rotation.status, rotation.dispatched_at) == (RotationStatus.REQUESTED, None)

    assert rotation_resend_stale(older_than_seconds=0) == 1
    rotation.refresh_from_db()
    assert rotation.status == RotationStatus.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_a_database_lost_after_the_commit_answers_202_saved_not_503(
    api_as, facilities, cabinet, settings
):
    """The change was committed; the database went away while the answer was on its way out
    (as when the row is read back, or the session saved): the user is told it was saved and not
    to send it again, never that nothing was saved."""
    at = settings.MIDDLEWARE.index("core.outage.OutageMiddleware") + 1
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE[:at],
        f"{__name__}._FailingOnTheWayOut",
        *settings.MIDDLEWARE[at:],
    ]
    client = api_as(facilities)
    client.raise_request_exception = False
    response = client.post(
        "/api/v1/locations/",
        {
            "code": "saved-room",
            "name": "Saved",
            "kind": "cabinet",
            "parent": cabinet.parent.code,
            "custodian": cabinet.custodian.code,
        },
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 202, response.content
    assert "Your change was saved" in response.json()["detail"]
    assert Location.objects.filter(code="saved-room").exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_request_that_only_wrote_by_the_way_still_answers_503(
    api_as, facilities, settings, method
):
    """A read, or a change refused before it was made, saved nothing of the user's, whatever
    was written by the way (a token's last use, in autocommit mode): an outage on its way out
    is the plain 503."""
    at = settings.MIDDLEWARE.index("core.outage.OutageMiddleware") + 1
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE[:at],
        f"{__name__}._WritingThenFailingOnTheWayOut",
        *settings.MIDDLEWARE[at:],
    ]
    client = api_as(facilities)
    client.raise_request_exception = False
    send = getattr(client, method)
    response = send("/api/v1/terminals/", {}, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 503
    assert "Nothing was saved" in response.json()["detail"]


class _WritingThenFailingOnTheWayOut:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        self.get_response(request)
        Location.objects.filter(pk=-1).update(name="x")  # a write in autocommit mode
        raise OperationalError(DOWN)
