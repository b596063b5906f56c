"""/health/ for load balancers: 200 with every check ok, 503 naming the check that failed, and
nothing in it a stranger could use."""

import datetime
import json

import pytest
import time_machine
from celery import current_app
from django.utils import timezone

from core.crypto import reset_keyring
from core.tasks import worker_heartbeat
from tests.support.polling import free_port


@pytest.fixture
def heartbeat(db):
    worker_heartbeat.delay()  # in process (tests/conftest.py), as a worker would run it


@pytest.fixture
def keyring_reset():
    reset_keyring()
    yield
    reset_keyring()


def checks(response) -> dict[str, str]:
    return {name: check["status"] for name, check in response.json()["checks"].items()}


def test_an_anonymous_load_balancer_gets_200_when_every_check_passes(client, heartbeat):
    response = client.get("/health/")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "ok"
    assert checks(response) == {
        "database": "ok",
        "broker": "ok",
        "worker": "ok",
        "audit_signing_key": "ok",
        "credential_keys": "ok",
    }
    assert "no-cache" in response["Cache-Control"]


def test_no_worker_heartbeat_and_a_stale_one_answer_503(client, db, settings):
    settings.HEALTH_HEARTBEAT_MAX_AGE_SECONDS = 120
    never = client.get("/health/")
    assert never.status_code == 503
    assert never.json()["checks"]["worker"] == {"status": "error", "reason": "no heartbeat yet"}

    with time_machine.travel(timezone.now() - datetime.timedelta(seconds=121)):
        worker_heartbeat.delay()
    stale = client.get("/health/")
    assert stale.status_code == 503
    assert checks(stale)["worker"] == "error"
    assert checks(stale)["database"] == "ok"

    worker_heartbeat.delay()
    assert client.get("/health/").status_code == 200


def test_a_broker_that_does_not_answer_is_503_without_its_address(client, heartbeat):
    port = free_port()  # nothing listens there
    saved = current_app.conf.broker_url
    current_app.conf.broker_url = f"redis://:s3cret-broker-pw@127.0.0.1:{port}/0"
    try:
        response = client.get("/health/")
    finally:
        current_app.conf.broker_url = saved

    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == {"status": "error", "reason": "failed"}
    body = response.content.decode()
    assert str(port) not in body
    assert "s3cret" not in body
    assert "127.0.0.1" not in body


def test_keys_that_do_not_load_are_503_and_never_shown(client, heartbeat, settings, keyring_reset):
    settings.CREDENTIAL_KEYS = "k1:not-base64-at-all"
    settings.AUDIT_SIGNING_KEY = "also-not-a-key"
    reset_keyring()

    response = client.get("/health/")

    assert response.status_code == 503
    assert checks(response) == {
        "database": "ok",
        "broker": "ok",
        "worker": "ok",
        "audit_signing_key": "error",
        "credential_keys": "error",
    }
    assert "not-base64" not in response.content.decode()
    assert "also-not-a-key" not in response.content.decode()


def test_it_says_nothing_but_ok_or_error_per_check(client, heartbeat, settings):
    body = client.get("/health/").content.decode()

    assert settings.SECRET_KEY not in body
    for forbidden in ("localhost", "sqlite", "redis", "filesystem", str(settings.DATA_DIR)):
        assert forbidden.lower() not in body.lower()
    assert set(json.loads(body)) == {"status", "checks"}


def test_writing_to_it_is_refused(client, db):
    assert client.post("/health/").status_code == 405
