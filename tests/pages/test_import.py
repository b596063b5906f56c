from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from core.models import AuditEvent
from terminals import csv_io, services
from terminals.models import Location, Terminal
from tests.factories import make_terminal
from tests.support.db import nothing_written


def _upload(client, kind: str, text: str):
    csv_file = SimpleUploadedFile("inventory.csv", text.encode("utf-8"), content_type="text/csv")
    return client.post(reverse("terminals:import"), {"kind": kind, "file": csv_file}, follow=True)


def _apply(client, preview_response, **overrides):
    token = overrides.get("token", preview_response.context["preview"].token)
    return client.post(reverse("terminals:import"), {"token": token}, follow=True)


def _export(client) -> str:
    response = client.get(reverse("terminals:export"))
    return b"".join(response.streaming_content).decode("utf-8-sig")


def test_a_terminal_file_is_previewed_then_applied_and_says_how_many(as_user, facilities, cabinet):
    client = as_user(facilities)
    text = "asset_tag,hostname,location\nNW-I1,pc-i1,hq-cab-1\nNW-I2,pc-i2,hq-cab-1\n"

    preview = _upload(client, "terminals", text)

    assert not Terminal.objects.exists(), "the preview writes nothing"
    assert preview.context["counts"]["create"] == 2
    response = _apply(client, preview)

    assert set(Terminal.objects.values_list("asset_tag", flat=True)) == {"NW-I1", "NW-I2"}
    messages = [str(message) for message in response.context["messages"]]
    assert len(messages) == 1
    assert "2" in messages[0]


def test_a_file_with_a_bad_row_shows_each_problem_and_writes_nothing(as_user, facilities, cabinet):
    events = AuditEvent.objects.count()
    text = "asset_tag,location\nNW-OK,hq-cab-1\nNW-BAD,nowhere\n"

    response = _upload(as_user(facilities), "terminals", text)

    page = response.content.decode()
    table = page.split('class="import-preview"', 1)[1].split("</table>", 1)[0]
    ok_row, bad_row = table.split("<tr class=")[1:]
    assert ok_row.startswith('"outcome-create"') and '<td class="num">2</td>' in ok_row
    assert bad_row.startswith('"outcome-error"') and '<td class="num">3</td>' in bad_row
    assert "<code>location</code>" in bad_row
    assert "nowhere" in bad_row
    assert not Terminal.objects.exists()
    assert AuditEvent.objects.count() == events


def test_a_file_with_a_bad_header_is_refused_on_the_upload_page(as_user, facilities, cabinet):
    with nothing_written():
        response = _upload(as_user(facilities), "terminals", "asset_tag,colour\nNW-1,red\n")

    table = response.content.decode().split('class="row-errors"', 1)[1]
    assert '<td class="num">1</td>' in table
    assert "<code>colour</code>" in table and "<code>location</code>" in table
    assert "preview" not in response.context


def test_importing_locations_builds_them_under_their_parent(as_user, facilities, cabinet):
    text = "code,name,kind,parent,secured\nhq-cab-9,保管庫9,cabinet,hq-b1-3f-sec,true\n"
    _upload(as_user(facilities), "locations", text)
    created = Location.objects.get(code="hq-cab-9")
    assert created.parent.code == "hq-b1-3f-sec"
    assert created.secured


def test_re_importing_an_edited_export_shows_the_field_change_then_applies_it(
    as_user, facilities, cabinet
):
    terminal = make_terminal(location=cabinet, asset_tag="NW-0001", notes="予備機")
    make_terminal(location=cabinet, asset_tag="NW-0002")
    client = as_user(facilities)
    text = _export(client).replace("予備機", "修理済み")

    with nothing_written(terminal):
        preview = _upload(client, "terminals", text)

    page = preview.content.decode()
    table = page.split('class="import-preview"', 1)[1].split("</table>", 1)[0]
    assert "NW-0001" in table and "NW-0002" not in table, "only the changed row is listed"
    assert "<del>予備機</del>" in table and "<ins>修理済み</ins>" in table
    assert 'name="token"' in page
    events = AuditEvent.objects.filter(action="terminal.updated")

    _apply(client, preview)

    terminal.refresh_from_db()
    assert terminal.notes == "修理済み"
    assert events.filter(object_id=str(terminal.pk)).count() == 1
    assert events.count() == 1


def test_an_unchanged_export_has_nothing_to_apply(as_user, facilities, cabinet):
    make_terminal(location=cabinet, asset_tag="NW-0001")
    client = as_user(facilities)

    preview = _upload(client, "terminals", _export(client))

    assert preview.context["counts"] == {"create": 0, "update": 0, "unchanged": 1, "error": 0}
    assert 'name="token"' not in preview.content.decode()


def test_a_preview_with_a_bad_row_offers_no_apply_and_a_forged_apply_writes_nothing(
    as_user, facilities, cabinet
):
    client = as_user(facilities)
    text = "asset_tag,location\nNW-OK,hq-cab-1\nNW-BAD,nowhere\n"

    preview = _upload(client, "terminals", text)

    page = preview.content.decode()
    assert 'name="token"' not in page
    assert "outcome-error" in page and "nowhere" in page
    token = csv_io.preview_terminals_csv(actor=facilities, data=text.encode()).token
    with nothing_written():
        response = _apply(client, preview, token=token)
    assert response.redirect_chain[-1][0] == reverse("terminals:import")


def test_apply_after_the_terminal_changed_shows_the_new_preview_and_writes_nothing(
    as_user, facilities, cabinet
):
    terminal = make_terminal(location=cabinet, asset_tag="NW-0001", notes="before")
    client = as_user(facilities)
    preview = _upload(client, "terminals", _export(client).replace("before", "from the file"))
    terminal = services.terminal_update(
        terminal=terminal,
        actor=None,
        serial_number=terminal.serial_number,
        hostname=terminal.hostname,
        model_name=terminal.model_name,
        custodian=terminal.custodian,
        notes="edited meanwhile",
    )

    with nothing_written(terminal), translation.override("en"):
        response = _apply(client, preview)

    assert response.status_code == 409
    page = response.content.decode()
    assert "<del>edited meanwhile</del>" in page
    assert response.context["notice"]
    # The new preview can be applied as it now stands.
    _apply(client, response)
    terminal.refresh_from_db()
    assert terminal.notes == "from the file"


def test_a_second_upload_replaces_the_first_preview(as_user, facilities, cabinet):
    client = as_user(facilities)
    first = _upload(client, "terminals", "asset_tag,location\nNW-A,hq-cab-1\n")
    _upload(client, "terminals", "asset_tag,location\nNW-B,hq-cab-1\n")

    with nothing_written():
        response = _apply(client, first)

    assert response.redirect_chain[-1][0] == reverse("terminals:import")
    assert "error" in [message.level_tag for message in response.context["messages"]]
