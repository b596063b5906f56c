"""A username is one username however it is typed: trimmed, NFKC (a Japanese IME's full width)
and lower case, stored once and looked up the same way, so Yamada cannot be a second person
beside yamada, and signs in as yamada from the page and the API; existing rows are migrated."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client

from core.audit import record_event
from core.errors import InvalidInput
from core.models import User
from core.roles import Role
from core.services import user_create
from tests.support.db import migrate_to, nothing_written


def test_a_username_is_stored_in_its_one_form_and_once(contractor_org, password):
    user = user_create(
        actor=None,
        username=" Ｙａｍａｄａ.Taro ",
        role=Role.CONTRACTOR,
        password=password,
        organization=contractor_org,
    )
    assert user.username == "yamada.taro"
    with nothing_written(), pytest.raises(InvalidInput) as refused:
        user_create(
            actor=None,
            username="YAMADA.TARO",
            role=Role.CONTRACTOR,
            password=password,
            organization=contractor_org,
        )
    assert "yamada.taro" in refused.value.field_errors["username"][0]


def test_the_database_refuses_a_username_in_another_form(auditor):
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {User._meta.db_table} SET username = 'Upper' WHERE id = %s", [auditor.pk]
        )


def test_a_person_signs_in_typing_their_username_in_another_case(auditor, password):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    answer = client.post("/login/", {"username": auditor.username.upper(), "password": password})
    assert answer.status_code == 302
    assert client.get("/").status_code == 200


def test_the_api_token_is_issued_for_a_username_typed_in_full_width(api, auditor, password):
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in auditor.username.upper())
    answer = api.post(
        "/api/v1/auth/token/", {"username": full_width, "password": password}, format="json"
    )
    assert answer.status_code in (200, 201), answer.json()
    assert answer.json()["token"]


def test_the_admin_refuses_a_second_person_in_another_case(as_user, auditor, security):
    security.is_staff = security.is_superuser = True
    security.save()
    answer = as_user(security).post(
        "/admin/core/user/add/",
        {
            "username": auditor.username.capitalize(),
            "password1": "x-Very-long-pass-42",
            "password2": "x-Very-long-pass-42",
            "usable_password": "true",
        },
    )
    assert answer.status_code == 200
    assert answer.context["adminform"].form.errors["username"]
    assert User.objects.filter(username__iexact=auditor.username).count() == 1


BEFORE = [("core", "0010_organization_code_normalised")]


@pytest.mark.django_db(transaction=True)
def test_existing_usernames_are_migrated_and_two_of_one_name_stop_the_migration():
    OldUser = migrate_to(BEFORE).get_model("core", "User")
    OldUser.objects.create(username="Fiona")
    OldUser.objects.create(username="ｓａｍ")
    OldUser.objects.create(username="SAM")

    with pytest.raises(RuntimeError, match="'ｓａｍ' and 'SAM'"):
        migrate_to()
    assert sorted(OldUser.objects.values_list("username", flat=True)) == ["Fiona", "SAM", "ｓａｍ"]

    OldUser.objects.filter(username="SAM").update(username="sam2")  # a person renamed one
    migrate_to()
    assert sorted(User.objects.values_list("username", flat=True)) == ["fiona", "sam", "sam2"]


def test_every_spelling_of_a_username_counts_against_one_lockout(api, auditor, password):
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in auditor.username)
    for spelling in (auditor.username, auditor.username.upper(), full_width, " " + full_width):
        for _ in range(2):
            answer = api.post(
                "/api/v1/auth/token/", {"username": spelling, "password": "wrong"}, format="json"
            )
    assert answer.status_code == 429
    right = api.post(
        "/api/v1/auth/token/",
        {"username": full_width.upper(), "password": password},
        format="json",
    )
    assert right.status_code == 429


def test_the_audit_trail_finds_a_persons_events_however_their_name_is_typed(api_as, security):
    record_event(actor=security, action="user.updated", obj=security, details={})
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in security.username.upper())
    for typed in (security.username.upper(), full_width):
        events = api_as(security).get("/api/v1/events/", {"actor": typed}).json()["results"]
        assert events and {e["actor"] for e in events} == {security.username}, typed
