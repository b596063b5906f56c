"""Backup and restore (README, "Backup and restore"): pg_dump of a running system with
terminals, a loan and encrypted secrets, restored with pg_restore into an empty database,
brings back every row; there the audit chain verifies, a secret decrypts, and the restored
service rotates the next return. PostgreSQL only."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from core.sealer import seal_pending
from credentials.models import SecretVersion
from credentials.secrets import secret_plaintext
from lending.models import Loan
from terminals.models import Terminal
from tests.lending.api.helpers import checkout
from tests.support.processes import REPO, service_env

pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]

IN_THE_RESTORED_DATABASE = """
import hashlib, json
import django
django.setup()
from core.models import AuditEvent, User
from core.sealer import verify_chain
from credentials.models import Account, SecretVersion
from credentials.secrets import secret_plaintext
from lending import services
from lending.models import Loan
from terminals.models import Location, Terminal

def digest(v):
    return hashlib.sha256(secret_plaintext(v).encode()).hexdigest()

found = {
    "terminals": sorted(Terminal.objects.values_list("asset_tag", "status")),
    "loans": sorted(Loan.objects.values_list("pk", "status")),
    "secrets": {str(v.pk): digest(v) for v in SecretVersion.objects.filter(status="current")},
    "events": AuditEvent.objects.count(),
}
found["verified"], broken = verify_chain(seal=False)
found["broken"] = str(broken) if broken else None

loan = Loan.objects.get(status="open")
accounts = Account.objects.filter(terminal=loan.terminal)
before = sorted(accounts.values_list("login_id", flat=True))
services.loan_return(
    loan=loan, actor=User.objects.get(username="fiona"), condition="ok", cards_returned=[],
    return_location=Location.objects.get(code="hq-cab-1"), handed_back_by="山田 太郎",
    operator_signature="山田 太郎", data_disposition="destroyed",
)
found["rotated"] = not set(before) & set(accounts.values_list("login_id", flat=True))
found["states_after_return"] = sorted(set(accounts.values_list("state", flat=True)))
found["verified_after"], broken = verify_chain()
found["broken_after"] = str(broken) if broken else None
print(json.dumps(found))
"""


def pg_tool(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        major = int(cursor.fetchone()[0]) // 10000
    exact = Path(f"/usr/lib/postgresql/{major}/bin/{name}")
    found = str(exact) if exact.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is needed (apt-get install postgresql-client-{major})")
    return found


def pg_env() -> dict[str, str]:
    db = connection.settings_dict
    env = dict(os.environ, PGHOST=db["HOST"] or "127.0.0.1", PGPORT=str(db["PORT"] or 5432))
    env["PGUSER"] = db["USER"] or "postgres"
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    return env


def run(*argv: str) -> None:
    result = subprocess.run(argv, env=pg_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def restored_name():
    name = f"{connection.settings_dict['NAME']}_restored"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')  # empty: nothing but the template
    yield name
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_dump_restored_into_an_empty_database_brings_everything_back(
    tmp_path, facilities, approved, terminals, restored_name
):
    checkout(approved, terminals[0], facilities)
    seal_pending()
    expected = {
        "terminals": sorted(Terminal.objects.values_list("asset_tag", "status")),
        "loans": sorted(Loan.objects.values_list("pk", "status")),
        "secrets": {
            str(v.pk): hashlib.sha256(secret_plaintext(v).encode()).hexdigest()
            for v in SecretVersion.objects.filter(status="current")
        },
    }
    assert len(expected["secrets"]) == 6 and ("NW-00001", "lent") in expected["terminals"]

    dump = tmp_path / "nwterm.dump"
    run(pg_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(dump),
        connection.settings_dict["NAME"])  # fmt: skip
    run(pg_tool("pg_restore"), "--no-owner", "--exit-on-error", "--dbname", restored_name,
        str(dump))  # fmt: skip

    db = connection.settings_dict
    env = service_env(
        tmp_path,
        "",
        CELERY_TASK_ALWAYS_EAGER="true",
        AUDIT_SIGNING_KEY=settings.AUDIT_SIGNING_KEY,
        AUDIT_WITNESS_FILE=settings.AUDIT_WITNESS_FILE,
    )
    env["DATABASE_URL"] = (
        f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT']}/"
        f"{restored_name}"
    )
    env.pop("REDIS_URL")
    result = subprocess.run(
        [sys.executable, "-c", IN_THE_RESTORED_DATABASE],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])

    assert found["terminals"] == [list(t) for t in expected["terminals"]]
    assert found["loans"] == [list(loan) for loan in expected["loans"]]
    assert found["secrets"] == expected["secrets"]  # every secret decrypts to the same value
    assert found["broken"] is None and found["verified"] == found["events"] > 0
    # The restored service works on: the next return rotates the terminal's accounts.
    assert found["rotated"] is True
    assert found["states_after_return"] == ["locked"]
    assert found["broken_after"] is None and found["verified_after"] > found["verified"]
