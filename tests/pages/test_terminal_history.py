"""The terminal page's history shows the edits of its description (which field, old -> new)
between its movements, in the order they happened."""

import datetime as dt

import time_machine
from django.urls import reverse

from core.audit import record_event
from core.models import AuditEvent
from terminals import selectors, services
from tests.factories import OrganizationFactory

START = dt.datetime(2026, 11, 26, 1, 0, tzinfo=dt.UTC)


def _history(client, terminal) -> str:
    page = client.get(reverse("terminals:detail", args=[terminal.asset_tag])).content.decode()
    return page.split('<table class="history', 1)[1].split("</table>", 1)[0]


def _edit(client, terminal, **changes):
    data = {
        "serial_number": terminal.serial_number,
        "hostname": terminal.hostname,
        "model_name": terminal.model_name,
        "custodian": terminal.custodian_id,
        "notes": terminal.notes,
    }
    response = client.post(reverse("terminals:edit", args=[terminal.asset_tag]), data | changes)
    assert response.status_code == 302, response.context["form"].errors


def test_an_edit_shows_each_changed_field_with_its_old_and_new_value(as_user, facilities, terminal):
    client = as_user(facilities)
    _edit(client, terminal, hostname="nwpc-renamed", notes="キーボード交換済")

    history = _history(client, terminal)

    edit_row = history.split('class="history-edit"', 1)[1].split("</tr>", 1)[0]
    assert "fiona" in edit_row
    assert "<strong>ホスト名</strong>" in edit_row  # the field's name, translated
    assert '<span class="old">nwpc-0001</span> → <span class="new">nwpc-renamed</span>' in edit_row
    assert "<strong>備考</strong>" in edit_row
    assert '<span class="old">—</span> → <span class="new">キーボード交換済</span>' in edit_row
    assert "<strong>製造番号</strong>" not in edit_row  # unchanged fields are left out


def test_a_change_of_custodian_shows_the_organizations_by_name(as_user, facilities, terminal):
    client = as_user(facilities)
    client.cookies["django_language"] = "en"
    repairer = OrganizationFactory(code="pc-repair", name="PC修理センター")
    _edit(client, terminal, custodian=repairer.pk)

    edit_row = _history(client, terminal).split('class="history-edit"', 1)[1]
    assert "<strong>Custodian</strong>" in edit_row
    assert '<span class="old">送配電株式会社</span>' in edit_row
    assert '<span class="new">PC修理センター</span>' in edit_row


def test_edits_and_movements_are_interleaved_newest_first(
    as_user, facilities, terminal, second_cabinet
):
    client = as_user(facilities)
    with time_machine.travel(START, tick=False) as clock:
        clock.move_to(START + dt.timedelta(hours=1))
        services.terminal_move(
            terminal=terminal, actor=facilities, to_location=second_cabinet, reason="移設"
        )
        clock.move_to(START + dt.timedelta(hours=2))
        _edit(client, terminal, model_name="ThinkPad L15")
        clock.move_to(START + dt.timedelta(hours=3))
        services.terminal_send_to_maintenance(
            terminal=terminal, actor=facilities, reason="画面割れ"
        )

    history = _history(client, terminal)
    order = [history.index(text) for text in ("画面割れ", "ThinkPad L15", "移設")]
    assert order == sorted(order)


def test_an_older_event_naming_the_custodian_by_its_key_reads_as_its_name(
    facilities, terminal, operator
):
    other = OrganizationFactory(code="old-co", name="旧管理会社")
    record_event(
        actor=facilities,
        action="terminal.updated",
        obj=terminal,
        details={"custodian_id": [operator.pk, other.pk]},
    )

    (edit,) = [entry for entry in selectors.terminal_timeline(terminal=terminal) if entry.changes]
    (change,) = edit.changes
    assert (change.label, change.old, change.new) == ("Custodian", "送配電株式会社", "旧管理会社")


def test_an_older_event_naming_the_custodian_by_a_code_typed_in_capitals_reads_as_its_name(
    facilities, terminal, operator
):
    OrganizationFactory(code="old-co", name="旧管理会社")
    # Recorded before codes took their one form (core.0010): the event keeps the old spelling.
    record_event(
        actor=facilities,
        action="terminal.updated",
        obj=terminal,
        details={"custodian": [operator.code.upper(), "OLD-CO"]},
    )

    (edit,) = [entry for entry in selectors.terminal_timeline(terminal=terminal) if entry.changes]
    (change,) = edit.changes
    assert (change.old, change.new) == ("送配電株式会社", "旧管理会社")


def test_an_edit_records_the_custodian_by_its_code(facilities, terminal):
    other = OrganizationFactory(code="pc-repair")
    services.terminal_update(
        terminal=terminal,
        actor=facilities,
        serial_number=terminal.serial_number,
        hostname=terminal.hostname,
        model_name=terminal.model_name,
        custodian=other,
        notes=terminal.notes,
    )
    assert AuditEvent.objects.last().details == {"custodian": ["tepco-pg", "pc-repair"]}
