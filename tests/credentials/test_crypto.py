import base64

import pytest

from core.crypto import DecryptionError, Keyring, KeyringError

KEY_A = Keyring.new_key_spec("a")
KEY_B = Keyring.new_key_spec("b")


def test_a_secret_decrypts_in_its_own_row_only():
    ring = Keyring.from_spec(KEY_A)
    key_id, blob = ring.encrypt("Pa55-word!", context="account=1|version=1")
    assert b"Pa55" not in blob
    assert ring.decrypt(key_id, blob, context="account=1|version=1") == "Pa55-word!"
    with pytest.raises(DecryptionError):
        ring.decrypt(key_id, blob, context="account=2|version=1")
    with pytest.raises(DecryptionError):
        ring.decrypt(key_id, blob, context="account=1|version=2")


def test_a_flipped_bit_fails_loudly():
    ring = Keyring.from_spec(KEY_A)
    key_id, blob = ring.encrypt("secret", context="c")
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(DecryptionError):
        ring.decrypt(key_id, tampered, context="c")


def test_the_newest_key_encrypts_and_older_keys_still_decrypt():
    old = Keyring.from_spec(KEY_A)
    key_id, blob = old.encrypt("secret", context="c")
    both = Keyring.from_spec(f"{KEY_B},{KEY_A}")
    assert both.current_key_id == "b"
    assert both.decrypt(key_id, blob, context="c") == "secret"
    assert both.encrypt("x", context="c")[0] == "b"


def test_relabelling_a_ciphertext_with_another_key_id_fails():
    ring = Keyring.from_spec(f"{KEY_B},{KEY_A}")
    _key_id, blob = ring.encrypt("secret", context="c")
    with pytest.raises(DecryptionError):
        ring.decrypt("a", blob, context="c")


def test_a_missing_key_is_an_error_not_a_fallback():
    key_id, blob = Keyring.from_spec(KEY_A).encrypt("secret", context="c")
    with pytest.raises(DecryptionError, match="no key"):
        Keyring.from_spec(KEY_B).decrypt(key_id, blob, context="c")


@pytest.mark.parametrize(
    "spec",
    ["", "nokey", "a:!!!", f"a:{base64.b64encode(b'short').decode()}", f"{KEY_A},{KEY_A}"],
)
def test_bad_key_specs_are_refused(spec):
    with pytest.raises(KeyringError):
        Keyring.from_spec(spec)
