"""deploy/: the compose file, the container file, the systemd units and the nginx example name
commands, modules, settings and headers that exist in this project. (scripts/test builds and
starts the compose stack where a container engine runs; these tests run everywhere.)"""

import configparser
import importlib
import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml
from celery import current_app
from django.conf import settings

REPO = Path(settings.BASE_DIR)
DEPLOY = REPO / "deploy"
SETTINGS_SOURCE = (REPO / "config" / "settings.py").read_text(encoding="utf-8")
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
APP_SERVICES = {"migrate", "web", "worker", "beat"}
# Variables read by the units' command lines and the compose file, not by the settings.
DEPLOY_ONLY = {"WEB_WORKERS", "WORKER_CONCURRENCY", "NWTERM_ENV_FILE", "NWTERM_WEB_PORT"}


def setting_is_read(name: str) -> bool:
    base = name.removesuffix("_FILE") if name.endswith("_FILE") else name
    read = re.search(rf"env(str|bool|int|list|secret)\(\s*\"{re.escape(base)}\"", SETTINGS_SOURCE)
    return bool(read) and (base == name or f'envsecret("{base}")' in SETTINGS_SOURCE)


def env_file(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def check_command(argv: list[str]) -> None:
    """The command runs something this project has: gunicorn on our WSGI app, celery with our
    app, or manage.py with one of its commands."""
    program = Path(argv[0]).name
    if program == "gunicorn":
        module, _, attribute = argv[1].partition(":")
        assert callable(getattr(importlib.import_module(module), attribute))
    elif program == "celery":
        assert argv[1:3] == ["-A", "config"]
        assert argv[3] in {"worker", "beat"}
        assert importlib.import_module("config").celery_app.main == "nwterm"
    elif program == "python":
        assert argv[1] == "manage.py"
        from django.core.management import get_commands

        assert argv[2] in get_commands()
    else:
        pytest.fail(f"unknown program {argv[0]}")
    assert (Path(sys.executable).parent / program).exists(), f"{program} is not installed"


def test_compose_has_the_five_parts_and_their_commands_exist(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "redis"} | APP_SERVICES
    for name in APP_SERVICES:
        check_command(services[name]["command"])
    assert services["beat"]["command"][3] == "beat" and services["worker"]["command"][3] == "worker"
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "/health/" in " ".join(services["web"]["healthcheck"]["test"])
    environment = compose["x-app"]["environment"]
    assert environment["APP_ENV"] == "production"
    assert (
        environment["DATABASE_URL"].startswith("postgres://")
        and "@postgres:" in (environment["DATABASE_URL"])
    )
    assert environment["REDIS_URL"].startswith("redis://redis:")


def test_every_variable_the_deploy_files_set_is_a_setting(compose):
    names = set(compose["x-app"]["environment"])
    names |= set(env_file(DEPLOY / "compose.env.example"))
    names |= set(env_file(DEPLOY / "systemd" / "nwterm.env"))
    unknown = sorted(n for n in names if n not in DEPLOY_ONLY and not setting_is_read(n))
    assert unknown == []
    # The production secrets are all given.
    secrets = set(env_file(DEPLOY / "compose.env.example")) | set(
        env_file(DEPLOY / "systemd" / "nwterm.env")
    )
    for secret in ("SECRET_KEY", "CREDENTIAL_KEYS", "AUDIT_SIGNING_KEY"):
        assert secret in secrets and f"{secret}_FILE" in secrets


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_each_systemd_unit_runs_a_command_of_ours_with_the_shared_environment(unit):
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd's keys are case-sensitive
    parser.read(unit, encoding="utf-8")
    assert set(parser.sections()) == {"Unit", "Service", "Install"}
    service = parser["Service"]
    assert service["EnvironmentFile"] == "/etc/nwterm/nwterm.env"
    assert service["User"] == "nwterm"
    argv = shlex.split(service["ExecStart"].replace("\\\n", " "))
    assert argv[0].startswith(service["WorkingDirectory"] + "/.venv/bin/")
    check_command([Path(argv[0]).name, *argv[1:]])
    for variable in re.findall(r"\$\{(\w+)\}", service["ExecStart"]):
        assert variable in env_file(DEPLOY / "systemd" / "nwterm.env")


def test_there_is_a_unit_for_web_worker_and_beat_and_beat_uses_the_leased_scheduler():
    assert [u.name for u in UNITS] == [
        "nwterm-beat.service",
        "nwterm-web.service",
        "nwterm-worker.service",
    ]
    # Neither the unit nor the compose file passes -S: the settings choose the scheduler.
    assert current_app.conf.beat_scheduler == "core.scheduler:LeasedScheduler"
    module, _, name = current_app.conf.beat_scheduler.partition(":")
    assert getattr(importlib.import_module(module), name)


def test_nginx_sends_the_headers_the_settings_trust_and_serves_static_from_static_root():
    site = (DEPLOY / "nginx" / "nwterm.conf").read_text(encoding="utf-8")
    params = (DEPLOY / "nginx" / "nwterm_proxy_params").read_text(encoding="utf-8")
    unit_env = env_file(DEPLOY / "systemd" / "nwterm.env")

    includes = re.findall(r"include\s+(\S+);", site)
    assert includes and all(Path(i).name == "nwterm_proxy_params" for i in includes)
    headers = dict(re.findall(r"proxy_set_header\s+(\S+)\s+(.+);", params))
    # SECURE_PROXY_SSL_HEADER reads X-Forwarded-Proto; the client address comes from the header
    # named by TRUSTED_PROXY_HEADER; the logs' request id from X-Request-ID.
    assert '("HTTP_X_FORWARDED_PROTO", "https")' in SETTINGS_SOURCE
    assert headers["X-Forwarded-Proto"] == "$scheme"
    assert headers[unit_env["TRUSTED_PROXY_HEADER"]] == "$remote_addr"
    assert unit_env["TRUSTED_PROXY_COUNT"] == "1"
    assert headers["X-Request-ID"] == "$request_id"
    assert headers["Host"] == "$host"
    static = re.search(r"location /(\S+)/ \{\s*alias (\S+);", site)
    assert static[1] + "/" == settings.STATIC_URL.strip("/") + "/"
    assert static[2] == unit_env["STATIC_ROOT"] + "/"
    assert "ssl_certificate " in site and "listen 443 ssl" in site
    assert re.search(r"location = /metrics \{[^}]*deny all;", site)


def test_the_container_file_copies_every_app_and_runs_the_web_command(compose):
    container = (DEPLOY / "Containerfile").read_text(encoding="utf-8")
    copied = re.findall(r"^COPY (\S+) ", container, flags=re.MULTILINE)
    for source in copied:
        assert (REPO / source).exists(), source
    for app in ("config", "core", "terminals", "credentials", "lending", "compliance", "portal",
                "templates", "static", "locale", "manage.py"):  # fmt: skip
        assert app in copied
    assert "--group app" in container
    assert compose["x-app"]["build"]["dockerfile"] == "deploy/Containerfile"
    cmd = re.search(r"^CMD (\[.*?\])$", container, flags=re.MULTILINE | re.DOTALL)[1]
    assert yaml.safe_load(cmd.replace("\\\n", " ")) == compose["services"]["web"]["command"]
