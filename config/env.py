"""Small readers for settings from environment variables (after healthchecks' hc/settings.py)."""

import base64
import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


def envstr(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from exc


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def envsecret(name: str) -> str:
    """A secret from NAME, or from the file named by NAME_FILE (container secrets)."""
    value = os.environ.get(name, "")
    path = os.environ.get(f"{name}_FILE", "")
    if not value and path:
        value = Path(path).read_text(encoding="utf-8").strip()
    return value


def development_secret(
    data_dir: Path, filename: str, nbytes: int = 50, key_spec: bool = False
) -> str:
    """A development-only secret generated once and kept in the data folder; with `key_spec`,
    a credential keyring spec with one AES-256 key."""
    path = data_dir / filename
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        # O_EXCL: web, worker and beat may start at once; exactly one writes the file.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                if key_spec:
                    key = base64.b64encode(secrets.token_bytes(32)).decode()
                    handle.write(f"dev1:{key}")
                else:
                    handle.write(secrets.token_urlsafe(nbytes))
    return path.read_text(encoding="utf-8").strip()


def development_key(data_dir: Path, filename: str, nbytes: int = 32) -> str:
    """A development-only key of `nbytes` random bytes, base64, generated once in the data
    folder (an Ed25519 private key is 32 of them)."""
    path = data_dir / filename
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(base64.b64encode(secrets.token_bytes(nbytes)).decode())
    return path.read_text(encoding="utf-8").strip()
