import io

import pytest
from django.core.management import call_command
from django.db import connection

from core.crypto import DecryptionError
from credentials.models import SecretVersion
from credentials.secrets import secret_plaintext
from tests.credentials.helpers import rotated_account
from tests.factories import make_terminal
from tests.support.keys import KEY_A, KEY_B


def test_secrets_written_under_key_a_read_after_rotation_to_key_b(
    keys, local_target, cabinet, django_capture_on_commit_callbacks
):
    accounts = [
        rotated_account(
            local_target, make_terminal(location=cabinet), django_capture_on_commit_callbacks
        )
        for _ in range(3)
    ]
    before = {a.pk: secret_plaintext(a.current_version) for a in accounts}
    keys(f"{KEY_B},{KEY_A}")
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "3 secret versions" in out.getvalue()
    keys(KEY_B)  # key A is gone now
    for account in accounts:
        account.refresh_from_db()
        assert account.current_version.key_id == "b"
        assert secret_plaintext(account.current_version) == before[account.pk]
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)  # a rerun has nothing left to do
    assert "0 secret versions" in out.getvalue()


def test_swapping_two_ciphertexts_between_rows_fails_loudly(
    keys, local_target, cabinet, django_capture_on_commit_callbacks
):
    one = rotated_account(
        local_target, make_terminal(location=cabinet), django_capture_on_commit_callbacks
    )
    two = rotated_account(
        local_target, make_terminal(location=cabinet), django_capture_on_commit_callbacks
    )
    v1, v2 = one.current_version, two.current_version
    table = SecretVersion._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET ciphertext = %s WHERE id = %s", [bytes(v2.ciphertext), v1.pk]
        )
    v1.refresh_from_db()
    with pytest.raises(DecryptionError):
        secret_plaintext(v1)
