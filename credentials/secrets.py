"""Stored secrets in and out of their ciphertext: account passwords (secret versions) and LDAP
bind passwords (target systems), each bound to its row (core.crypto). The one module of credentials
that decrypts; connectors may use it, and nothing else of credentials but the models.
"""

from core.crypto import keyring
from credentials.models import SecretVersion, TargetSystem


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
