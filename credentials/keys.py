"""The process's keyring, built once from settings.CREDENTIAL_KEYS."""

from functools import cache

from django.conf import settings

from credentials.crypto import Keyring


@cache
def keyring() -> Keyring:
    return Keyring.from_spec(settings.CREDENTIAL_KEYS)


def reset_keyring() -> None:
    """Forget the cached keyring (after settings change, e.g. in key-rotation tests)."""
    keyring.cache_clear()
