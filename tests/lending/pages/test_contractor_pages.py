"""Facilities add contractor companies and their users; the generated password is shown once."""

import re

from django.urls import reverse

from core.models import Organization, User
from tests.support.db import nothing_written


def test_facilities_add_a_contractor(as_user, facilities):
    response = as_user(facilities).post(
        reverse("lending:contractor-create"),
        {"code": "minato-denki", "name": "みなと電気工事"},
        follow=True,
    )
    organization = Organization.objects.get(code="minato-denki")
    assert organization.kind == Organization.Kind.CONTRACTOR
    assert "みなと電気工事" in response.content.decode()


def test_a_duplicate_code_is_refused_on_its_field(as_user, facilities, contractor_org):
    with nothing_written(contractor_org):
        page = (
            as_user(facilities)
            .post(reverse("lending:contractor-create"), {"code": "kanto-denko", "name": "別会社"})
            .content.decode()
        )
    assert "An organization with code kanto-denko already exists." in page
    assert 'value="別会社"' in page


def test_a_new_user_gets_a_password_shown_once_that_works(as_user, facilities, contractor_org):
    response = as_user(facilities).post(
        reverse("lending:contractor-user-create", args=[contractor_org.code]),
        {"username": "kanto-suzuki", "email": "suzuki@example.jp"},
    )
    page = response.content.decode()
    assert "no-store" in response["Cache-Control"]
    password = re.search(r'id="initial-password" class="secret-value password">([^<]+)<', page)[1]
    user = User.objects.get(username="kanto-suzuki")
    assert user.check_password(password)
    assert (user.organization, user.role) == (contractor_org, "contractor")
    assert "This password is shown only now." in page

    listing = as_user(facilities).get(reverse("lending:contractors")).content.decode()
    assert "kanto-suzuki" in listing
    assert password not in listing


def test_a_taken_username_is_refused_and_kept(as_user, facilities, contractor, contractor_org):
    with nothing_written(contractor):
        page = (
            as_user(facilities)
            .post(
                reverse("lending:contractor-user-create", args=[contractor_org.code]),
                {"username": "carl", "email": "carl@example.jp"},
            )
            .content.decode()
        )
    assert "A user named carl already exists." in page
    assert 'value="carl@example.jp"' in page
