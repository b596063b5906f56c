"""Adding and editing locations and access cards from the pages, and the changes of status
made by hand (a card's lost, retired, back to storage; a terminal's lost and retired): what is
for good is asked first, a loan's card or terminal is refused with the loan's reason."""

import pytest
from django.urls import reverse

from core.models import AuditEvent
from terminals import hooks, services
from terminals.models import AccessCard, Location, Terminal
from tests.factories import OrganizationFactory
from tests.support.db import nothing_written


@pytest.fixture
def on_loan(monkeypatch):
    """Lending's answer, as if a loan were out for every reserved or lent terminal."""
    monkeypatch.setattr(hooks, "_loan_holds", [lambda terminal: ["貸与 #7 で貸出中です。"]])


def _lend(terminal, card=None):
    services.terminal_reserve(terminal=terminal, actor=None)
    services.terminal_lend(terminal=terminal, actor=None)
    if card is not None:
        services.access_card_lend(card=card, actor=None)


# Locations ------------------------------------------------------------------------------------


def test_facilities_add_a_room_inside_a_floor_and_it_appears_in_the_tree(
    as_user, facilities, cabinet
):
    floor = Location.objects.get(code="hq-b1-3f")
    client = as_user(facilities)
    form = client.get(reverse("terminals:location_create"), {"parent": floor.pk})
    assert form.context["form"].initial["kind"] == Location.Kind.ROOM  # one level deeper

    response = client.post(
        reverse("terminals:location_create"),
        {"code": "hq-b1-3f-spare", "name": "予備室", "kind": "room", "parent": floor.pk},
        follow=True,
    )

    room = Location.objects.get(code="hq-b1-3f-spare")
    assert (room.parent, room.site.code, room.custodian) == (floor, "hq", floor.custodian)
    assert not room.secured
    event = AuditEvent.objects.last()
    assert (event.action, event.actor) == ("location.created", facilities)
    page = response.content.decode()
    assert 'id="location-hq-b1-3f-spare"' in page
    assert "予備室" in page


def test_a_duplicate_code_and_a_misplaced_kind_are_shown_on_their_fields(
    as_user, facilities, cabinet
):
    room = Location.objects.get(code="hq-b1-3f-sec")
    with nothing_written():
        response = as_user(facilities).post(
            reverse("terminals:location_create"),
            {"code": "hq-cab-1", "name": "別棟", "kind": "building", "parent": room.pk},
        )

    errors = response.context["form"].errors
    assert response.status_code == 200
    assert "hq-cab-1" in errors["code"][0]
    assert errors["parent"]
    assert 'value="別棟"' in response.content.decode()


def test_a_site_needs_a_custodian(as_user, facilities, operator):
    with nothing_written():
        response = as_user(facilities).post(
            reverse("terminals:location_create"),
            {"code": "north", "name": "北支店", "kind": "site"},
        )
    assert response.context["form"].errors["custodian"]


def test_editing_a_location_changes_its_description_and_writes_one_event(
    as_user, facilities, cabinet
):
    other = OrganizationFactory(code="bldg-mgmt", name="ビル管理")
    before = AuditEvent.objects.count()
    response = as_user(facilities).post(
        reverse("terminals:location_edit", args=[cabinet.code]),
        {"name": "保管庫A", "custodian": other.pk, "address": "3F 北側"},
    )

    assert response.status_code == 302
    cabinet.refresh_from_db()
    assert (cabinet.name, cabinet.custodian, cabinet.secured) == ("保管庫A", other, False)
    assert cabinet.address == "3F 北側"
    assert AuditEvent.objects.count() == before + 1
    assert AuditEvent.objects.last().action == "location.updated"


def test_only_a_site_offers_its_stock_take_interval(as_user, facilities, site, cabinet):
    client = as_user(facilities)
    site_form = client.get(reverse("terminals:location_edit", args=[site.code])).context["form"]
    cabinet_form = client.get(reverse("terminals:location_edit", args=[cabinet.code]))
    assert "stocktake_interval_days" in site_form.fields
    assert "stocktake_interval_days" not in cabinet_form.context["form"].fields

    client.post(
        reverse("terminals:location_edit", args=[site.code]),
        {
            "name": site.name,
            "custodian": site.custodian_id,
            "secured": "on",
            "stocktake_interval_days": 14,
        },
    )
    site.refresh_from_db()
    assert site.stocktake_interval_days == 14


def test_the_tree_offers_adding_and_editing_to_facilities_only(
    as_user, facilities, auditor, cabinet
):
    edit_url = reverse("terminals:location_edit", args=[cabinet.code])
    add_url = reverse("terminals:location_create")
    staff_page = as_user(facilities).get(reverse("terminals:locations")).content.decode()
    reader_page = as_user(auditor).get(reverse("terminals:locations")).content.decode()

    assert edit_url in staff_page
    assert add_url in staff_page
    assert edit_url not in reader_page
    assert add_url not in reader_page


# Access cards ---------------------------------------------------------------------------------


def test_a_new_card_is_stored_under_its_normalised_number_with_its_terminal(
    as_user, facilities, cabinet, terminal
):
    response = as_user(facilities).post(
        reverse("terminals:card_create"),
        {
            "card_number": " ic－０００９ ",
            "kind": "sign_in",
            "location": cabinet.pk,
            "terminal": "nw-00001",
        },
    )

    card = AccessCard.objects.get(card_number="IC-0009")
    assert response.status_code == 302
    assert response["Location"] == reverse("terminals:card_detail", args=["IC-0009"])
    assert (card.kind, card.terminal, card.location) == ("sign_in", terminal, cabinet)
    assert AuditEvent.objects.last().action == "access_card.created"


def test_a_duplicate_card_and_an_unknown_terminal_are_shown_on_their_fields(
    as_user, facilities, card
):
    with nothing_written():
        response = as_user(facilities).post(
            reverse("terminals:card_create"),
            {"card_number": "ic-000001", "kind": "entry", "terminal": "NW-NONE"},
        )
    errors = response.context["form"].errors
    assert "NW-NONE" in errors["terminal"][0]

    with nothing_written():
        response = as_user(facilities).post(
            reverse("terminals:card_create"), {"card_number": "ic-000001", "kind": "entry"}
        )
    assert "IC-000001" in response.context["form"].errors["card_number"][0]


def test_editing_a_card_moves_it_and_writes_one_event(as_user, facilities, card, second_cabinet):
    before = AuditEvent.objects.count()
    response = as_user(facilities).post(
        reverse("terminals:card_edit", args=[card.card_number]),
        {"location": second_cabinet.pk, "terminal": "", "notes": "予備"},
    )

    assert response.status_code == 302
    card.refresh_from_db()
    assert (card.location, card.terminal, card.notes) == (second_cabinet, None, "予備")
    assert AuditEvent.objects.count() == before + 1


def test_a_lent_card_cannot_be_edited_and_the_page_says_why(as_user, facilities, card, terminal):
    _lend(terminal, card)
    with nothing_written(card):
        response = as_user(facilities).post(
            reverse("terminals:card_edit", args=[card.card_number]),
            {"location": "", "terminal": "NW-00001", "notes": "x"},
        )
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()


def test_the_card_page_offers_its_changes_of_status_to_facilities_only(
    as_user, facilities, security, card
):
    status_url = reverse("terminals:card_status", args=[card.card_number])
    page = as_user(facilities).get(reverse("terminals:card_detail", args=[card.card_number]))
    offered = [
        chunk.split('"', 1)[0] for chunk in page.content.decode().split(f"{status_url}?to=")[1:]
    ]
    assert offered == ["lost", "retired"]  # already in storage
    assert reverse("terminals:card_edit", args=[card.card_number]) in page.content.decode()

    reader = as_user(security).get(reverse("terminals:card_detail", args=[card.card_number]))
    assert status_url not in reader.content.decode()


def test_marking_a_card_lost_asks_first_and_then_records_it(as_user, facilities, card):
    client = as_user(facilities)
    url = reverse("terminals:card_status", args=[card.card_number])

    with nothing_written(card):
        asked = client.post(url, {"to_status": "lost", "reason": "紛失届"})
    page = asked.content.decode()
    assert asked.status_code == 200
    assert 'name="confirm" value="1"' in page
    assert 'value="紛失届"' in page  # the reason goes with the Confirm button

    done = client.post(url, {"to_status": "lost", "reason": "紛失届", "confirm": "1"})

    assert done.status_code == 302
    card.refresh_from_db()
    assert card.status == AccessCard.Status.LOST
    event = AuditEvent.objects.last()
    assert (event.action, event.actor, event.details["reason"]) == (
        "access_card.lost",
        facilities,
        "紛失届",
    )


def test_the_confirmation_says_what_will_happen_in_english(as_user, facilities, card):
    client = as_user(facilities)
    client.cookies["django_language"] = "en"
    page = client.post(
        reverse("terminals:card_status", args=[card.card_number]),
        {"to_status": "retired", "reason": "破損"},
    ).content.decode()
    assert "This card will be retired" in page
    assert "This cannot be undone." in page


def test_losing_or_retiring_a_card_needs_a_reason(as_user, facilities, card):
    with nothing_written(card):
        response = as_user(facilities).post(
            reverse("terminals:card_status", args=[card.card_number]),
            {"to_status": "retired", "reason": " ", "confirm": "1"},
        )
    assert response.context["form"].errors["reason"]


def test_a_lost_card_that_turns_up_goes_back_to_storage_without_asking(as_user, facilities, card):
    services.access_card_mark_lost(card=card, actor=None, reason="紛失届")

    response = as_user(facilities).post(
        reverse("terminals:card_status", args=[card.card_number]),
        {"to_status": "in_storage", "reason": "発見"},
    )

    assert response.status_code == 302
    card.refresh_from_db()
    assert card.status == AccessCard.Status.IN_STORAGE


def test_a_lent_cards_status_belongs_to_its_loan(as_user, facilities, card, terminal, on_loan):
    _lend(terminal, card)
    client = as_user(facilities)
    url = reverse("terminals:card_status", args=[card.card_number])

    page = client.get(url, {"to": "lost"}).content.decode()
    assert "貸与 #7 で貸出中です。" in page
    with nothing_written(card):
        refused = client.post(url, {"to_status": "lost", "reason": "x", "confirm": "1"})
    assert refused.status_code == 200
    card.refresh_from_db()
    assert card.status == AccessCard.Status.LENT


def test_the_service_refuses_a_card_lent_meanwhile_with_the_loans_reason(
    facilities, card, terminal, on_loan
):
    _lend(terminal, card)
    with nothing_written(card), pytest.raises(services.RuleViolation) as refused:
        services.access_card_change_status(
            card=card, actor=facilities, to_status="lost", reason="x"
        )
    assert refused.value.reasons == ["貸与 #7 で貸出中です。"]


# A terminal's lost and retired ------------------------------------------------------------------


def test_retiring_a_terminal_asks_first_and_says_what_will_happen(as_user, facilities, terminal):
    client = as_user(facilities)
    client.cookies["django_language"] = "en"
    url = reverse("terminals:status", args=[terminal.asset_tag])

    with nothing_written(terminal):
        asked = client.post(url, {"to_status": "retired", "reason": "耐用年数超過"})
    page = asked.content.decode()
    assert "This terminal will be retired." in page
    assert "Its accounts will be deleted on their target systems." in page
    assert reverse("terminals:detail", args=[terminal.asset_tag]) in page  # Cancel

    client.post(url, {"to_status": "retired", "reason": "耐用年数超過", "confirm": "1"})
    terminal.refresh_from_db()
    assert terminal.status == Terminal.Status.RETIRED


def test_marking_a_terminal_lost_asks_first(as_user, facilities, terminal):
    client = as_user(facilities)
    url = reverse("terminals:status", args=[terminal.asset_tag])
    with nothing_written(terminal):
        asked = client.post(url, {"to_status": "lost", "reason": "紛失届"})
    assert 'name="confirm" value="1"' in asked.content.decode()

    client.post(url, {"to_status": "lost", "reason": "紛失届", "confirm": "1"})
    terminal.refresh_from_db()
    assert terminal.status == Terminal.Status.LOST


def test_maintenance_is_not_asked_twice(as_user, facilities, terminal):
    response = as_user(facilities).post(
        reverse("terminals:status", args=[terminal.asset_tag]),
        {"to_status": "maintenance", "reason": "画面割れ"},
    )
    assert response.status_code == 302


def test_a_lent_terminals_status_page_gives_the_loans_reason(
    as_user, facilities, terminal, on_loan
):
    _lend(terminal)
    page = as_user(facilities).get(reverse("terminals:status", args=[terminal.asset_tag]))
    assert "貸与 #7 で貸出中です。" in page.content.decode()


def test_a_parent_in_the_link_that_is_no_location_is_ignored(as_user, facilities, cabinet):
    client = as_user(facilities)
    for parent in ("abc", "999999", "-1"):
        response = client.get(reverse("terminals:location_create"), {"parent": parent})
        assert response.status_code == 200
        assert "parent" not in response.context["form"].initial
