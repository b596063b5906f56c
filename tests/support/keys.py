"""Two encryption keys for tests that rotate CREDENTIAL_KEYS (the `keys` fixture starts on A)."""

from core.crypto import Keyring

KEY_A, KEY_B = Keyring.new_key_spec("a"), Keyring.new_key_spec("b")
