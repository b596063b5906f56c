"""Arrangement pages in both languages, the dashboard entry, and the API's answers."""

import pytest
from django.urls import reverse

from lending.models import Arrangement, ArrangementStatus, ExtensionStatus
from tests.lending.arrangements.conftest import in_days


def page(client, url, lang="en"):
    client.cookies["django_language"] = lang
    return client.get(url)


# The Japanese catalogue is merged later (/tmp/ja); the page is served in Japanese meanwhile.
@pytest.mark.parametrize(
    ("lang", "words"), [("en", "Time-boxed arrangements"), ("ja", '<html lang="ja">')]
)
def test_the_list_shows_status_parties_and_end_in_each_language(
    as_user, security, active, lang, words
):
    response = page(as_user(security), reverse("lending:arrangements"), lang)
    body = response.content.decode()
    assert response.status_code == 200
    assert words in body
    assert active.title in body
    assert "関東電工" in body


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_the_detail_page_shows_what_it_covers_and_its_extensions(
    as_user, security, second_security, active, lent, lang
):
    from lending import arrangements

    arrangements.arrangement_extension_propose(
        arrangement=active, actor=security, new_ends_at=in_days(20), reason="移行が遅延"
    )
    response = page(
        as_user(second_security), reverse("lending:arrangement", args=[active.pk]), lang
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "NW-00001" in body and "NW-00002" in body
    assert "移行が遅延" in body


def test_the_proposer_is_refused_on_the_page_and_a_second_officer_approves_after_confirming(
    as_user, security, second_security, proposed
):
    url = reverse("lending:arrangement-approve", args=[proposed.pk])
    response = as_user(security).post(url, follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert "second security officer" in response.content.decode()
    client = as_user(second_security)
    asked = client.post(url)
    assert asked.status_code == 200  # the confirmation step
    proposed.refresh_from_db()
    assert proposed.status == ArrangementStatus.PROPOSED
    client.post(url, {"confirm": "1"})
    proposed.refresh_from_db()
    assert proposed.status == ArrangementStatus.ACTIVE


def test_the_propose_form_shows_field_errors(as_user, security, terminals, contractor_org):
    client = as_user(security)
    client.cookies["django_language"] = "en"
    response = client.post(
        reverse("lending:arrangement-create"),
        {
            "title": "暫定",
            "reason": "理由",
            "parties": [contractor_org.pk],
            "terminals": [terminals[0].pk],
            "starts_at": "2020-01-01T00:00",
            "ends_at": "2020-01-02T00:00",
        },
    )
    assert response.status_code == 200
    assert "The end must be in the future." in response.content.decode()
    assert not Arrangement.objects.exists()


def test_the_dashboard_shows_arrangements_ending_soon_and_awaiting_approval(
    as_user, security, second_security, active, proposed_other
):
    response = page(as_user(second_security), reverse("dashboard"))
    body = response.content.decode()
    assert "Arrangements ending within 30 days" in body
    assert active.title in body
    assert 'data-panel="arrangements"' in body
    panels = {p.key: p for p in response.context["panels"]}
    assert panels["arrangements"].count == 1  # the proposal sue did not make


@pytest.fixture
def proposed_other(security, contractor_org, terminals):
    from tests.lending.arrangements.conftest import propose

    return propose(security, [contractor_org], terminals[2:], title="別の暫定運用")


def api_body(contractor_org, terminals, **changes):
    body = {
        "title": "暫定運用",
        "reason": "移行まで",
        "parties": [contractor_org.code],
        "terminals": [terminals[0].asset_tag],
        "starts_at": in_days(0).isoformat(),
        "ends_at": in_days(30).isoformat(),
    }
    body.update(changes)
    return body


def test_the_api_creates_refuses_bad_input_and_forbids_other_roles(
    api_as, security, facilities, contractor_org, terminals
):
    url = "/api/v1/arrangements/"
    created = api_as(security).post(url, api_body(contractor_org, terminals), format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["status"] == "proposed"
    bad = api_as(security).post(
        url, api_body(contractor_org, terminals, ends_at=in_days(-1).isoformat()), format="json"
    )
    assert bad.status_code == 400
    assert "ends_at" in str(bad.json())
    forbidden = api_as(facilities).post(url, api_body(contractor_org, terminals), format="json")
    assert forbidden.status_code == 403
    assert Arrangement.objects.count() == 1


def test_the_api_approves_by_a_second_officer_and_extends_with_a_second_approval(
    api_as, security, second_security, proposed
):
    base = f"/api/v1/arrangements/{proposed.pk}"
    assert api_as(security).post(f"{base}/approve/", format="json").status_code == 409
    assert api_as(second_security).post(f"{base}/approve/", format="json").status_code == 200
    extension = api_as(security).post(
        f"{base}/extend/",
        {"new_ends_at": in_days(40).isoformat(), "reason": "延長"},
        format="json",
    )
    assert extension.status_code == 201
    approve = f"{base}/extensions/{extension.json()['id']}/approve/"
    assert api_as(security).post(approve, format="json").status_code == 409
    answer = api_as(second_security).post(approve, format="json")
    assert answer.status_code == 200
    assert answer.json()["status"] == ExtensionStatus.APPROVED
    read = api_as(second_security).get(f"{base}/").json()
    assert read["ends_at"] == extension.json()["new_ends_at"]
    assert len(read["extensions"]) == 1
