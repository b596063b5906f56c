"""Production settings pass Django's deploy checks and refuse to start without their secrets."""

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.processes import run_django

REPO = Path(settings.BASE_DIR)
SECRETS = ("SECRET_KEY", "CREDENTIAL_KEYS", "AUDIT_SIGNING_KEY")


def production_secrets() -> dict[str, str]:
    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "CREDENTIAL_KEYS": f"k1:{base64.b64encode(secrets.token_bytes(32)).decode()}",
        "AUDIT_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    }


def manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    # The test session's own settings stay out, DJANGO_ALLOW_ASYNC_UNSAFE (set for Playwright in
    # conftest) among them: the deploy check rightly refuses it.
    dropped = {"DATABASE_URL", "REDIS_URL", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    dropped.update(SECRETS, (f"{name}_FILE" for name in SECRETS))
    base = {k: v for k, v in os.environ.items() if k not in dropped}
    base.update(
        APP_ENV="production",
        ALLOWED_HOSTS="example.jp",
        DATA_DIR=str(tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_the_deploy_checks_without_a_warning(tmp_path):
    result = manage(
        tmp_path, "check", "--deploy", "--fail-level", "WARNING", **production_secrets()
    )

    assert result.returncode == 0, result.stdout + result.stderr
    # No warning at all, and none silenced (SILENCED_SYSTEM_CHECKS would hide one).
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_production_settings_secure_cookies_hsts_proxy_header_and_csp(tmp_path):
    shown = manage(
        tmp_path,
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER, "
        "'csp.middleware.CSPMiddleware' in s.MIDDLEWARE, "
        "s.CONTENT_SECURITY_POLICY['DIRECTIVES']['script-src'])",
        **production_secrets(),
    )

    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip().splitlines()[-1] == (
        "True True 31536000 ('HTTP_X_FORWARDED_PROTO', 'https') True [\"'self'\"]"
    )


def test_production_reads_its_secrets_from_files(tmp_path):
    files = {}
    for name, value in production_secrets().items():
        path = tmp_path / name.lower()
        path.write_text(value + "\n")
        files[f"{name}_FILE"] = str(path)

    result = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **files)

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("missing", SECRETS)
def test_production_without_a_secret_refuses_to_start_and_names_it(tmp_path, missing):
    present = {k: v for k, v in production_secrets().items() if k != missing}

    result = manage(tmp_path, "check", **present)

    assert result.returncode != 0
    assert f"{missing} (or {missing}_FILE) must be set in production" in result.stderr
    # It must not quietly fall back to a generated development secret.
    assert not list(tmp_path.glob("*.txt"))


def test_the_web_application_keeps_what_loading_made_out_of_the_collectors_sight(tmp_path):
    # A full collection stops every thread of a gunicorn worker; scanning the ~190,000 objects
    # of the loaded project took about 110 ms of it (bench/lending.py's p99, README).
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(DATA_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    shown = run_django(
        "import gc\nbefore = gc.get_freeze_count()\nimport config.wsgi\n"
        "print(before, gc.get_freeze_count())",
        env,
        tmp_path / "wsgi.log",
    )

    before, after = map(int, shown.split())
    assert before == 0
    assert after > 50_000


def test_an_empty_database_url_is_the_embedded_sqlite_database(tmp_path):
    result = manage(
        tmp_path, "shell", "-c", "from django.db import connection; print(connection.vendor)",
        APP_ENV="development", DATABASE_URL="",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "sqlite"
