"""Who may open which page: anonymous users log in first, contractors see no inventory page,
security officers and auditors read but never write, facilities staff do both."""

import pytest
from django.urls import reverse

from terminals.models import AccessCard, Location, Terminal
from tests.support.db import nothing_written
from tests.support.otp import authenticator, fresh_code

READ_PAGES = [
    ("terminals:list", {}),
    ("terminals:export", {}),
    ("terminals:detail", {"asset_tag": "NW-00001"}),
    ("terminals:labels", {}),
    ("terminals:locations", {}),
    ("terminals:cards", {}),
    ("terminals:card_detail", {"card_number": "IC-000001"}),
]
WRITE_PAGES = [
    ("terminals:create", {}),
    ("terminals:edit", {"asset_tag": "NW-00001"}),
    ("terminals:move", {"asset_tag": "NW-00001"}),
    ("terminals:status", {"asset_tag": "NW-00001"}),
    ("terminals:import", {}),
]
ALL_PAGES = READ_PAGES + WRITE_PAGES


def _ids(pages):
    return [name.rsplit(":", 1)[-1] for name, _kwargs in pages]


@pytest.mark.parametrize(
    ("name", "kwargs"), [("dashboard", {}), *ALL_PAGES], ids=_ids([("dashboard", {}), *ALL_PAGES])
)
def test_an_anonymous_visitor_is_sent_to_the_login_page(client, card, name, kwargs):
    url = reverse(name, kwargs=kwargs)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize(("name", "kwargs"), ALL_PAGES, ids=_ids(ALL_PAGES))
def test_a_contractor_is_refused_every_inventory_page(as_user, contractor, card, name, kwargs):
    response = as_user(contractor).get(reverse(name, kwargs=kwargs))
    assert response.status_code == 403
    assert "nwpc-0001" not in response.content.decode()  # the terminal's hostname


@pytest.mark.parametrize("persona", ["security", "auditor", "facilities"])
@pytest.mark.parametrize(("name", "kwargs"), READ_PAGES, ids=_ids(READ_PAGES))
def test_every_inventory_role_reads_the_inventory(request, as_user, card, persona, name, kwargs):
    response = as_user(request.getfixturevalue(persona)).get(reverse(name, kwargs=kwargs))
    assert response.status_code == 200


@pytest.mark.parametrize("persona", ["security", "auditor"])
@pytest.mark.parametrize(("name", "kwargs"), WRITE_PAGES, ids=_ids(WRITE_PAGES))
def test_readers_cannot_open_or_post_a_form_that_writes(
    request, as_user, card, cabinet, second_cabinet, persona, name, kwargs
):
    client = as_user(request.getfixturevalue(persona))
    url = reverse(name, kwargs=kwargs)
    assert client.get(url).status_code == 403
    post = {"to_location": second_cabinet.pk, "to_status": "retired", "reason": "x"}
    with nothing_written(Terminal, AccessCard, Location):
        assert client.post(url, post).status_code == 403


@pytest.mark.parametrize(("name", "kwargs"), WRITE_PAGES, ids=_ids(WRITE_PAGES))
def test_facilities_staff_open_every_form(as_user, facilities, card, name, kwargs):
    response = as_user(facilities).get(reverse(name, kwargs=kwargs))
    assert response.status_code == 200
    assert b'method="post"' in response.content


def test_the_navigation_shows_import_only_to_those_who_may_import(as_user, facilities, auditor):
    import_url = reverse("terminals:import")
    assert import_url in as_user(facilities).get(reverse("terminals:list")).content.decode()
    assert import_url not in as_user(auditor).get(reverse("terminals:list")).content.decode()


def test_logging_in_leads_to_the_page_asked_for(client, facilities, password, terminal):
    detail = reverse("terminals:detail", args=[terminal.asset_tag])
    response = client.post(
        f"{reverse('login')}?next={detail}",
        {"username": facilities.username, "password": password, "next": detail},
    )
    assert response.status_code == 302
    # Facilities staff pass the second factor (issue 13) on the way; `next` goes with them.
    assert response["Location"] == f"{reverse('second-factor')}?next=%2Fterminals%2FNW-00001%2F"
    response = client.post(
        reverse("second-factor"), {"code": fresh_code(authenticator(facilities)), "next": detail}
    )
    assert response["Location"] == detail
    assert "NW-00001" in client.get(detail).content.decode()


def test_a_wrong_password_keeps_the_visitor_on_the_login_page(client, facilities):
    with nothing_written(facilities):
        response = client.post(
            reverse("login"), {"username": facilities.username, "password": "no"}
        )
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_logging_out_takes_a_post_and_ends_the_session(as_user, facilities):
    client = as_user(facilities)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("terminals:list")).status_code == 302
