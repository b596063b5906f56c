from core.models import AuditEvent
from terminals import services
from terminals.models import AccessCard
from tests.factories import make_card
from tests.support.db import nothing_written

CARDS = "/api/v1/access-cards/"


def _numbers(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["card_number"] for row in response.json()["results"]]


def test_facilities_staff_register_a_card_for_a_terminal(api_as, facilities, terminal):
    response = api_as(facilities).post(
        CARDS,
        {
            "card_number": "IC-100001",
            "kind": "sign_in",
            "location": "hq-cab-1",
            "terminal": "NW-00001",
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["terminal"] == "NW-00001"
    assert response.json()["status"] == "in_storage"
    assert AuditEvent.objects.filter(action="access_card.created", actor=facilities).count() == 1


def test_an_unknown_terminal_tag_is_named_in_the_message(api_as, facilities, cabinet):
    with nothing_written():
        response = api_as(facilities).post(
            CARDS,
            {"card_number": "IC-100002", "kind": "entry", "terminal": "NW-GHOST"},
            format="json",
        )

    assert response.status_code == 400
    assert "NW-GHOST" in response.json()["terminal"][0]


def test_cards_filter_by_terminal_kind_status_and_location(
    api_as, auditor, terminal, cabinet, open_room
):
    with_terminal = make_card(location=cabinet, terminal=terminal, kind="sign_in")
    in_lobby = make_card(location=open_room)
    lost = make_card(location=cabinet)
    services.access_card_mark_lost(card=lost, actor=None, reason="紛失届")
    client = api_as(auditor)

    assert _numbers(client.get(CARDS, {"terminal": "NW-00001"})) == [with_terminal.card_number]
    assert _numbers(client.get(CARDS, {"kind": "sign_in"})) == [with_terminal.card_number]
    assert _numbers(client.get(CARDS, {"status": "lost"})) == [lost.card_number]
    assert _numbers(client.get(CARDS, {"location": "hq-b2"})) == [in_lobby.card_number]


def test_a_lost_card_that_turns_up_is_stored_again(api_as, facilities, cabinet):
    card = make_card(location=cabinet)
    client = api_as(facilities)

    lost = client.post(f"{CARDS}{card.card_number}/lost/", {"reason": "紛失届"}, format="json")
    stored = client.post(f"{CARDS}{card.card_number}/store/", {}, format="json")

    assert lost.status_code == 200
    assert stored.status_code == 200
    assert stored.json()["status"] == "in_storage"


def test_a_retired_card_cannot_be_stored_again(api_as, facilities, cabinet):
    card = make_card(location=cabinet)
    services.access_card_retire(card=card, actor=None, reason="破損")
    events_before = AuditEvent.objects.count()

    response = api_as(facilities).post(f"{CARDS}{card.card_number}/store/", {}, format="json")

    assert response.status_code == 409
    assert response.json()["reasons"]
    card.refresh_from_db()
    assert card.status == AccessCard.Status.RETIRED
    assert AuditEvent.objects.count() == events_before


def test_a_card_moves_to_another_terminal_by_tag(api_as, facilities, terminal, cabinet):
    card = make_card(location=cabinet)

    response = api_as(facilities).patch(
        f"{CARDS}{card.card_number}/", {"terminal": "NW-00001"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["terminal"] == "NW-00001"
    assert response.json()["location"] == "hq-cab-1"


def test_a_card_out_with_a_loan_changes_only_through_the_loan(api_as, facilities, cabinet):
    # Marked lost or stored from the inventory, the loan's return would no longer account for it.
    card = make_card(location=cabinet, card_number="IC-100010")
    services.access_card_lend(card=card, actor=None)
    for action, body in (("lost", {"reason": "紛失"}), ("retire", {"reason": "x"}), ("store", {})):
        with nothing_written(card):
            response = api_as(facilities).post(
                f"{CARDS}{card.card_number}/{action}/",
                body,
                format="json",
                HTTP_ACCEPT_LANGUAGE="en",
            )
        assert response.status_code == 409, (action, response.content)
        assert "only through its loan" in " ".join(response.json()["reasons"])
