"""Stored secrets in and out of their ciphertext: account passwords (secret versions) and LDAP
bind passwords (target systems), each bound to its row (crypto.py). The one module that holds
the keyring and decrypts; connectors may use it, and nothing else of credentials but the models.
"""

from functools import cache

from django.conf import settings

from credentials.crypto import Keyring
from credentials.models import SecretVersion, TargetSystem


@cache
def keyring() -> Keyring:
    """The process's keyring, built once from settings.CREDENTIAL_KEYS (newest key first)."""
    return Keyring.from_spec(settings.CREDENTIAL_KEYS)


def reset_keyring() -> None:
    """Forget the cached keyring (after settings change, e.g. in key-rotation tests)."""
    keyring.cache_clear()


def secret_plaintext(version: SecretVersion) -> str:
    return keyring().decrypt(version.key_id, bytes(version.ciphertext), context=version.aad_context)


def secret_encrypt(version: SecretVersion, plaintext: str) -> None:
    """Encrypt under the newest key into the version's key id and ciphertext (not saved)."""
    version.key_id, version.ciphertext = keyring().encrypt(plaintext, context=version.aad_context)


def _bind_password_context(target: TargetSystem) -> str:
    return f"target={target.pk}|ldap-bind"


def bind_password_plaintext(target: TargetSystem) -> str:
    ciphertext = target.ldap_bind_password_ciphertext
    if ciphertext is None:
        raise ValueError(f"target system {target.code} has no LDAP bind password stored")
    return keyring().decrypt(
        target.ldap_bind_password_key_id,
        bytes(ciphertext),
        context=_bind_password_context(target),
    )


def bind_password_encrypt(target: TargetSystem, plaintext: str) -> None:
    """Encrypt under the newest key into the target's bind password fields (not saved); the
    target needs its primary key first, which the ciphertext is bound to."""
    target.ldap_bind_password_key_id, target.ldap_bind_password_ciphertext = keyring().encrypt(
        plaintext, context=_bind_password_context(target)
    )
