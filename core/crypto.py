"""The keyring and authenticated encryption of stored secrets: account passwords and LDAP bind
passwords (credentials.secrets), and the second factor's TOTP keys (core.otp). Small enough to
read whole; the Keyring itself needs no Django and is testable alone, and `keyring()` builds the
process's one from settings.CREDENTIAL_KEYS.

Each ciphertext is AES-256-GCM with a random 96-bit nonce, and its associated data names the row
it belongs to (an account's version, a target, a user's authenticator) and the key id, so a
ciphertext copied to another row, or relabelled with another key id, fails to decrypt instead of
revealing someone else's secret.
"""

import base64
import binascii
import os
import re
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
NONCE_BYTES = 12


class KeyringError(Exception):
    """The keys given are unusable (bad format, wrong length, duplicate id)."""


class DecryptionError(Exception):
    """A ciphertext did not authenticate: wrong key, wrong row, or tampered. Never ignored."""


class Keyring:
    """Named AES-256 keys; the first one encrypts, every one decrypts."""

    def __init__(self, keys: list[tuple[str, bytes]]):
        if not keys:
            raise KeyringError("at least one encryption key is needed")
        seen: dict[str, AESGCM] = {}
        for key_id, key in keys:
            if not _KEY_ID.match(key_id):
                raise KeyringError(f"key id {key_id!r} must be 1-32 letters, digits, - or _")
            if key_id in seen:
                raise KeyringError(f"key id {key_id!r} appears twice")
            if len(key) != 32:
                raise KeyringError(f"key {key_id!r} must be 32 bytes (256 bits)")
            seen[key_id] = AESGCM(key)
        self._ciphers = seen
        self.current_key_id = keys[0][0]

    @classmethod
    def from_spec(cls, spec: str) -> "Keyring":
        """Parse `id1:base64key,id2:base64key` (newest first)."""
        keys = []
        for item in filter(None, (part.strip() for part in spec.split(","))):
            key_id, sep, encoded = item.partition(":")
            if not sep:
                raise KeyringError("each key is written as id:base64")
            try:
                keys.append((key_id, base64.b64decode(encoded, validate=True)))
            except (binascii.Error, ValueError) as exc:
                raise KeyringError(f"key {key_id!r} is not valid base64") from exc
        return cls(keys)

    @staticmethod
    def new_key_spec(key_id: str) -> str:
        return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    def encrypt(self, plaintext: str, *, context: str) -> tuple[str, bytes]:
        """Encrypt under the newest key; returns (key id, nonce + ciphertext)."""
        key_id = self.current_key_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, plaintext.encode(), _aad(context, key_id))
        return key_id, nonce + sealed

    def decrypt(self, key_id: str, blob: bytes, *, context: str) -> str:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise DecryptionError(f"no key with id {key_id!r} is configured")
        try:
            plain = cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(context, key_id))
        except InvalidTag as exc:
            raise DecryptionError(f"ciphertext for {context} does not authenticate") from exc
        return plain.decode()


def _aad(context: str, key_id: str) -> bytes:
    return f"{context}|key={key_id}".encode()


@cache
def keyring() -> Keyring:
    """The process's keyring, built once from settings.CREDENTIAL_KEYS (newest key first)."""
    return Keyring.from_spec(settings.CREDENTIAL_KEYS)


def reset_keyring() -> None:
    """Forget the cached keyring (after settings change, e.g. in key-rotation tests)."""
    keyring.cache_clear()
