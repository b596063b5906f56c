"""Structured logs (LOG_FORMAT=json): one JSON object a line, with the request id and user, and
never a secret: a check-out, a reveal, a return with its rotation, and sign-ins are run with
every logger at DEBUG (every SQL statement with its parameters too) into a JSON log file, which
is then searched for every password and key the run handled."""

import json
import logging
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.logging_json import JsonFormatter, RequestContext
from credentials.models import SecretVersion
from credentials.secrets import secret_plaintext
from tests.factories import PASSWORD
from tests.support.processes import REPO


@pytest.fixture
def json_log(tmp_path):
    """Every record of every logger, at DEBUG, as the JSON handler writes it."""
    path = tmp_path / "app.jsonl"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContext())
    root, django_logger = logging.getLogger(), logging.getLogger("django")
    levels = root.level, django_logger.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    django_logger.setLevel(logging.DEBUG)  # Django's own default stops at INFO
    with CaptureQueriesContext(connection):  # django.db.backends logs each statement
        yield path
    root.removeHandler(handler)
    root.setLevel(levels[0])
    django_logger.setLevel(levels[1])
    handler.close()


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_lending_round_logs_no_secret_it_handled(
    client_for, client, facilities, contractor, approved, terminals, json_log,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    handled = {PASSWORD, "wrong-Passw0rd-guess", settings.SECRET_KEY, settings.AUDIT_SIGNING_KEY}
    handled |= {spec.split(":", 1)[1] for spec in settings.CREDENTIAL_KEYS.split(",")}
    handled |= {secret_plaintext(v) for v in SecretVersion.objects.all()}

    # Sign-ins through the form: one wrong password, then the right one.
    client.post("/login/", {"username": contractor.username, "password": "wrong-Passw0rd-guess"})
    client.post("/login/", {"username": contractor.username, "password": PASSWORD})
    as_facilities, as_contractor = client_for(facilities), client_for(contractor)
    handed = as_facilities.post(
        "/api/v1/loans/",
        {"request": approved.pk, "terminal": terminals[0].asset_tag,
         "operator_name": "山田 太郎", "acknowledged_name": "山田 太郎"},
        format="json",
    )  # fmt: skip
    assert handed.status_code == 201, handed.content
    loan_id = handed.json()["id"]
    revealed = as_contractor.post(f"/api/v1/loans/{loan_id}/reveal/")
    assert revealed.status_code == 200, revealed.content
    handled |= {account["password"] for account in revealed.json()}
    assert as_contractor.get("/terminals/").status_code == 403  # a refusal: one log line
    with django_capture_on_commit_callbacks(execute=True):
        returned = as_facilities.post(
            f"/api/v1/loans/{loan_id}/return/",
            {"condition": "ok", "cards_returned": [], "return_location": "hq-cab-1",
             "handed_back_by": "山田 太郎", "operator_signature": "山田 太郎",
             "data_disposition": "destroyed"},
            format="json",
        )  # fmt: skip
    assert returned.status_code == 200, returned.content
    # The rotation ran (in process, as a worker would): new secrets the run handled too.
    handled |= {secret_plaintext(v) for v in SecretVersion.objects.all()}
    assert len(handled) > 10

    text = json_log.read_text(encoding="utf-8")
    records = lines(json_log)
    assert len(records) > 5, text
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    refused = [r for r in records if r.get("status") == 403]
    assert refused and refused[0]["request_id"] and "(user: carl)" in refused[0]["message"]
    assert any(r["logger"].startswith("celery") for r in records), "the rotation's task logs"
    leaked = sorted(secret for secret in handled if secret and secret in text)
    assert leaked == [], "secrets in the log"


def test_log_format_json_makes_every_line_a_json_object(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(LOG_FORMAT="json", DATA_DIR=str(tmp_path), LOG_FILE=str(tmp_path / "app.log"))
    script = (
        "import django, logging\ndjango.setup()\n"
        "logging.getLogger('nwterm.test').warning('hello %s', 'world')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env={**env, "DJANGO_SETTINGS_MODULE":
        "config.settings"}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    for output in (result.stderr, (tmp_path / "app.log").read_text()):
        (line,) = [json.loads(line) for line in output.splitlines() if line.strip()]
        assert line["level"] == "WARNING"
        assert line["logger"] == "nwterm.test"
        assert line["message"] == "hello world"
        assert line["time"].endswith("+00:00")


def test_a_request_id_from_the_proxy_is_kept_and_a_bad_one_replaced(client, db):
    kept = client.get("/login/", HTTP_X_REQUEST_ID="0123456789abcdef0123456789abcdef")
    replaced = client.get("/login/", HTTP_X_REQUEST_ID="bad id\nwith a newline")

    assert kept["X-Request-ID"] == "0123456789abcdef0123456789abcdef"
    assert replaced["X-Request-ID"] != "bad id\nwith a newline"
    assert len(replaced["X-Request-ID"]) == 32
