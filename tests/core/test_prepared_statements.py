"""On PostgreSQL a statement a connection runs again and again is prepared once: the server
stops planning it at every request (DATABASE_PREPARED_STATEMENTS, on by default)."""

import json

import pytest
from django.db import connection

from core.models import User
from tests.core.test_settings import manage, production_secrets


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.postgresql_only
def test_a_statement_run_five_times_is_prepared_on_the_server(db):
    def probe(pk: int) -> list[User]:  # a statement no other code runs
        return list(User.objects.filter(pk=pk, first_name="probe", last_name="prepared"))

    def prepared() -> bool:
        return any('"core_user"."last_name" = $' in s for s in prepared_statements())

    for pk in range(4):
        probe(pk)
    assert not prepared()
    for pk in range(4, 6):
        probe(pk)
    assert prepared()


def database_options(tmp_path, **env) -> dict:
    result = manage(
        tmp_path,
        "shell",
        "-c",
        "import json; from django.conf import settings; "
        "print(json.dumps(settings.DATABASES['default']['OPTIONS']))",
        DATABASE_URL="postgres://nwterm@db.example.jp:5432/nwterm",
        **production_secrets(),
        **env,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_prepared_statements_can_be_turned_off_for_a_pooler(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_PREPARED_STATEMENTS", raising=False)
    assert database_options(tmp_path)["prepare_threshold"] == 5
    options = database_options(tmp_path, DATABASE_PREPARED_STATEMENTS="false")
    assert "prepare_threshold" not in options
    assert "server_side_binding" not in options
