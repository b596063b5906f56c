"""The forms that change a terminal: each success writes one audit event (and the movement);
each refusal shows why on the form and writes nothing."""

from django.urls import reverse

from core.models import AuditEvent
from terminals.models import Movement, Terminal


def _written():
    return AuditEvent.objects.count(), Movement.objects.count()


def test_adding_a_terminal_registers_it_in_storage_and_opens_its_page(
    as_user, facilities, cabinet, operator
):
    before = _written()
    response = as_user(facilities).post(
        reverse("terminals:create"),
        {
            "asset_tag": "NW-NEW",
            "serial_number": "PF3X91",
            "hostname": "nwpc-new",
            "model_name": "ThinkPad L14",
            "location": cabinet.pk,
            "custodian": "",
            "notes": "",
        },
        follow=True,
    )

    terminal = Terminal.objects.get(asset_tag="NW-NEW")
    assert response.redirect_chain == [(reverse("terminals:detail", args=["NW-NEW"]), 302)]
    assert terminal.status == Terminal.Status.IN_STORAGE
    assert terminal.custodian == operator  # the location's custodian when none is chosen
    assert _written() == (before[0] + 1, before[1] + 1)
    event = AuditEvent.objects.last()
    assert (event.action, event.actor) == ("terminal.created", facilities)
    assert "NW-NEW" in response.content.decode()
    assert 'class="message success"' in response.content.decode()


def test_a_duplicate_asset_tag_is_shown_on_its_field_and_nothing_is_written(
    as_user, facilities, terminal, cabinet
):
    before = _written()
    response = as_user(facilities).post(
        reverse("terminals:create"),
        {"asset_tag": terminal.asset_tag, "hostname": "typed-by-hand", "location": cabinet.pk},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["asset_tag"]
    page = response.content.decode()
    assert "NW-00001" in page
    assert 'aria-invalid="true"' in page
    assert 'value="typed-by-hand"' in page  # what was typed is kept
    assert _written() == before
    assert Terminal.objects.count() == 1


def test_a_form_missing_its_location_is_refused_before_any_service_runs(as_user, facilities):
    before = _written()
    response = as_user(facilities).post(reverse("terminals:create"), {"asset_tag": "NW-X"})
    assert "location" in response.context["form"].errors
    assert _written() == before


def test_editing_changes_only_the_description_and_writes_one_event(as_user, facilities, terminal):
    before = _written()
    response = as_user(facilities).post(
        reverse("terminals:edit", args=[terminal.asset_tag]),
        {
            "serial_number": terminal.serial_number,
            "hostname": "nwpc-renamed",
            "model_name": terminal.model_name,
            "custodian": terminal.custodian_id,
            "notes": "キーボード交換済",
        },
    )

    assert response.status_code == 302
    terminal.refresh_from_db()
    assert (terminal.hostname, terminal.notes) == ("nwpc-renamed", "キーボード交換済")
    assert terminal.location.code == "hq-cab-1"
    assert _written() == (before[0] + 1, before[1])
    assert AuditEvent.objects.last().action == "terminal.updated"


def test_the_edit_form_starts_from_the_current_values(as_user, facilities, terminal):
    page = as_user(facilities).get(reverse("terminals:edit", args=[terminal.asset_tag]))
    assert 'value="nwpc-0001"' in page.content.decode()


def test_moving_a_terminal_records_the_movement_and_one_event(
    as_user, facilities, terminal, second_cabinet
):
    before = _written()
    response = as_user(facilities).post(
        reverse("terminals:move", args=[terminal.asset_tag]),
        {"to_location": second_cabinet.pk, "reason": "棚の整理"},
        follow=True,
    )

    terminal.refresh_from_db()
    assert terminal.location == second_cabinet
    assert _written() == (before[0] + 1, before[1] + 1)
    movement = terminal.movements.first()
    assert (movement.from_location.code, movement.to_location.code) == ("hq-cab-1", "hq-cab-2")
    assert movement.actor == facilities
    page = response.content.decode()
    assert "棚の整理" in page  # the history on the detail page shows it
    assert "保管庫2" in page


def test_moving_to_the_same_location_is_refused_on_the_location_field(
    as_user, facilities, terminal, cabinet
):
    before = _written()
    response = as_user(facilities).post(
        reverse("terminals:move", args=[terminal.asset_tag]), {"to_location": cabinet.pk}
    )

    assert response.status_code == 200
    assert response.context["form"].errors["to_location"]
    assert _written() == before


def test_moving_a_retired_terminal_is_refused_above_the_form(
    as_user, facilities, terminal, second_cabinet
):
    client = as_user(facilities)
    client.post(
        reverse("terminals:status", args=[terminal.asset_tag]),
        {"to_status": "retired", "reason": "耐用年数超過", "confirm": "1"},
    )
    before = _written()

    response = client.post(
        reverse("terminals:move", args=[terminal.asset_tag]), {"to_location": second_cabinet.pk}
    )

    assert response.context["form"].non_field_errors()
    assert 'class="errorlist nonfield"' in response.content.decode()
    assert _written() == before


def test_the_detail_page_offers_only_the_manual_transitions_allowed_now(
    as_user, facilities, terminal
):
    page = as_user(facilities).get(reverse("terminals:detail", args=[terminal.asset_tag]))
    status_url = reverse("terminals:status", args=[terminal.asset_tag])
    offered = [
        chunk.split('"', 1)[0] for chunk in page.content.decode().split(f"{status_url}?to=")[1:]
    ]
    assert offered == ["maintenance", "lost", "retired"]


def test_retiring_needs_a_reason_and_nothing_is_written_without_one(as_user, facilities, terminal):
    before = _written()
    response = as_user(facilities).post(
        reverse("terminals:status", args=[terminal.asset_tag]), {"to_status": "retired"}
    )
    assert response.context["form"].errors["reason"]
    assert _written() == before
    terminal.refresh_from_db()
    assert terminal.status == Terminal.Status.IN_STORAGE


def test_retiring_with_a_reason_records_the_change_of_status(as_user, facilities, terminal):
    before = _written()
    response = as_user(facilities).post(
        reverse("terminals:status", args=[terminal.asset_tag]),
        {"to_status": "retired", "reason": "耐用年数超過", "confirm": "1"},
    )

    assert response.status_code == 302
    terminal.refresh_from_db()
    assert terminal.status == Terminal.Status.RETIRED
    assert _written() == (before[0] + 1, before[1] + 1)
    event = AuditEvent.objects.last()
    assert (event.action, event.details["reason"]) == ("terminal.retired", "耐用年数超過")


def test_going_to_maintenance_can_also_move_the_terminal(
    as_user, facilities, terminal, second_cabinet
):
    as_user(facilities).post(
        reverse("terminals:status", args=[terminal.asset_tag]),
        {"to_status": "maintenance", "to_location": second_cabinet.pk},
    )
    terminal.refresh_from_db()
    assert (terminal.status, terminal.location) == (Terminal.Status.MAINTENANCE, second_cabinet)


def test_a_status_not_offered_now_is_refused(as_user, facilities, terminal):
    before = _written()
    response = as_user(facilities).post(
        reverse("terminals:status", args=[terminal.asset_tag]), {"to_status": "lent"}
    )
    assert response.context["form"].errors["to_status"]
    assert _written() == before


def test_the_status_form_preselects_the_button_pressed(as_user, facilities, terminal):
    response = as_user(facilities).get(
        reverse("terminals:status", args=[terminal.asset_tag]), {"to": "lost"}
    )
    assert '<option value="lost" selected>' in response.content.decode()
