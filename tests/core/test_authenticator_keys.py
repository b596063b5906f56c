"""The second factor's keys at rest: each authenticator's TOTP key is encrypted under
CREDENTIAL_KEYS and bound to its user, moved by rotate_encryption_keys like every other secret,
and moved out of django-otp's plaintext table by the migration; an administrator resets a lost
authenticator (audited) and never sees a key."""

import base64
import importlib
import io
import re

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice

from core.models import AuditEvent, Authenticator, User
from core.otp import current_code, recovery_codes_issue
from tests.factories import make_user
from tests.support.keys import KEY_A, KEY_B
from tests.support.otp import authenticator, fresh_code

LOGIN = "/login/"
SECOND_FACTOR = "/login/second-factor/"
ENROL = "/login/second-factor/enrol/"
move_migration = importlib.import_module("core.migrations.0009_authenticators")


def _signed_in_with_code(user, password: str, code: str) -> bool:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.post(LOGIN, {"username": user.username, "password": password})
    return client.post(SECOND_FACTOR, {"code": code}).get("Location") == "/"


def _stored_row(device: Authenticator) -> bytes:
    """Every column of the authenticator's row, as the database holds it."""
    table = connection.ops.quote_name(Authenticator._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [device.pk])
        row = cursor.fetchone()
    return b"|".join(
        bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
        for value in row
    )


def test_the_key_an_app_is_given_at_enrolment_is_not_in_the_database(client, security, password):
    client.post(LOGIN, {"username": security.username, "password": password})
    html = client.get(ENROL, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    shown = re.search(r'class="otp-secret">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")
    key = base64.b32decode(shown)
    device = Authenticator.objects.get(user=security)

    stored = _stored_row(device)

    for form in (key, key.hex().encode(), key.hex().upper().encode(), shown.encode()):
        assert form not in stored
    # ...and the app set up with what the page showed is accepted.
    assert client.post(ENROL, {"code": current_code(device)}).status_code == 200
    assert Authenticator.objects.get(user=security).confirmed


def test_a_key_copied_onto_another_persons_authenticator_accepts_no_code(
    security, facilities, password
):
    mine, theirs = authenticator(security), authenticator(facilities)
    table = Authenticator._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET key_ciphertext = %s, key_id = %s WHERE id = %s",
            [bytes(theirs.key_ciphertext), theirs.key_id, mine.pk],
        )
    theirs_code = current_code(theirs)

    assert not _signed_in_with_code(security, password, theirs_code)


def test_rotating_the_encryption_keys_moves_authenticators_and_codes_still_sign_in(
    keys, facilities, password
):
    device = authenticator(facilities)
    assert device.key_id == "a"
    keys(f"{KEY_B},{KEY_A}")
    out = io.StringIO()

    call_command("rotate_encryption_keys", stdout=out)

    assert "1 authenticator keys" in out.getvalue()
    keys(KEY_B)  # key A is gone now
    device.refresh_from_db()
    assert device.key_id == "b"
    assert _signed_in_with_code(facilities, password, fresh_code(device))


def test_an_authenticator_whose_key_was_dropped_too_early_refuses_and_says_why_in_the_log(
    keys, facilities, password, caplog
):
    device = authenticator(facilities)
    code = fresh_code(device)
    keys(KEY_B)  # key A dropped without rotate_encryption_keys

    assert not _signed_in_with_code(facilities, password, code)
    assert f"the authenticator of user {facilities.pk} cannot be decrypted" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_the_keys_django_otp_kept_in_clear_and_drops_its_table(
    security, facilities
):
    key = bytes(range(20))
    table = connection.ops.quote_name(move_migration.PLAINTEXT_TABLE)
    # django-otp's table as deployments have it (the columns the migration reads, and the foreign
    # key to the users that would outlive the app), and its migrations' record.
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {table} (id integer PRIMARY KEY, "
            f"user_id integer REFERENCES {User._meta.db_table} (id), name varchar(64), "
            "confirmed boolean, key varchar(80), step integer, t0 bigint, digits integer, "
            "tolerance integer, drift integer, last_t bigint)"
        )
        cursor.execute(
            f"INSERT INTO {table} VALUES (7, %s, 'authenticator', %s, %s, 30, 0, 6, 1, 0, 42), "
            "(8, %s, 'authenticator', %s, %s, 30, 0, 8, 1, -1, -1)",
            [security.pk, True, key.hex(), facilities.pk, False, "AB" * 20],
        )
        cursor.execute(
            "INSERT INTO django_migrations (app, name, applied) VALUES ('otp_totp', '0001', %s)",
            [timezone.now()],
        )

    with connection.schema_editor() as editor:
        move_migration.move_plaintext_devices(apps, editor)

    assert move_migration.PLAINTEXT_TABLE not in connection.introspection.table_names()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM django_migrations WHERE app = 'otp_totp'")
        assert cursor.fetchone()[0] == 0
    moved = Authenticator.objects.get(user=security)
    assert (moved.bin_key, moved.confirmed, moved.last_t) == (key, True, 42)
    assert key.hex().encode() not in _stored_row(moved)
    other = Authenticator.objects.get(user=facilities)
    assert (other.bin_key, other.confirmed, other.digits) == (b"\xab" * 20, False, 8)
    # A flush (tests, benches) has no table of an uninstalled app in its way.
    call_command("flush", interactive=False, verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_without_django_otps_table_the_migration_has_nothing_to_do():
    with connection.schema_editor() as editor:
        move_migration.move_plaintext_devices(apps, editor)

    assert not Authenticator.objects.exists()


def test_an_administrator_resets_a_lost_authenticator_and_the_person_enrols_again(
    admin_client, facilities, password
):
    authenticator(facilities)
    recovery_codes_issue(user=facilities)

    response = admin_client.post(
        "/admin/core/user/",
        {"action": "reset_second_factor", "_selected_action": [facilities.pk]},
        HTTP_ACCEPT_LANGUAGE="en",
        follow=True,
    )

    assert "1 person will enrol an authenticator again." in response.content.decode()
    assert not Authenticator.objects.filter(user=facilities).exists()
    assert not StaticDevice.objects.filter(user=facilities).exists()
    event = AuditEvent.objects.get(action="user.second_factor_reset")
    assert event.object_id == str(facilities.pk)
    client = Client()
    client.post(LOGIN, {"username": facilities.username, "password": password})
    assert client.get(SECOND_FACTOR)["Location"].startswith(ENROL)


def test_the_reset_is_offered_only_to_whoever_may_delete_authenticators(client, operator):
    staff = make_user("stella", None, operator)
    staff.is_staff = True
    staff.save()
    staff.user_permissions.add(Permission.objects.get(codename="view_user"))
    client.force_login(staff)

    page = client.get("/admin/core/user/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "reset_second_factor" not in page


def test_the_authenticator_admin_shows_who_enrolled_never_a_key(admin_client, facilities):
    device = authenticator(facilities)

    page = admin_client.get(f"/admin/core/authenticator/{device.pk}/change/").content.decode()
    listing = admin_client.get("/admin/core/authenticator/").content.decode()

    assert facilities.username in page and facilities.username in listing
    for form in (device.bin_key.hex(), base64.b32encode(device.bin_key).decode()):
        assert form not in page
    assert "ciphertext" not in page
    assert admin_client.get("/admin/core/authenticator/add/").status_code == 403


def test_the_admin_in_japanese_names_the_second_factor_in_japanese_and_hides_django_otps_own(
    admin_client, facilities
):
    authenticator(facilities)
    index = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    listing = admin_client.get(
        "/admin/core/authenticator/", HTTP_ACCEPT_LANGUAGE="ja"
    ).content.decode()

    assert "認証アプリ" in index
    assert "/admin/otp_static/" not in index and "/admin/otp_totp/" not in index
    # django-otp's own fields are named in Japanese too (columns and filter).
    for label in ("利用者", "登録確認済", "登録日時", "最終使用日時"):
        assert label in listing
