"""A terminal's addresses (for the access-log checks): on its form, in the API, on its page."""

import pytest

from core.errors import InvalidInput
from core.models import AuditEvent
from terminals import services
from terminals.models import TerminalAddress
from tests.factories import make_terminal


def addresses(terminal) -> list[str]:
    return sorted(terminal.addresses.values_list("address", flat=True))


def update(terminal, actor, value):
    return services.terminal_update(
        terminal=terminal,
        actor=actor,
        serial_number=terminal.serial_number,
        hostname=terminal.hostname,
        model_name=terminal.model_name,
        custodian=terminal.custodian,
        notes=terminal.notes,
        addresses=value,
    )


def test_addresses_typed_one_per_line_or_with_commas_are_stored_once_each(terminal, facilities):
    update(terminal, facilities, "192.0.2.10\n 192.0.2.11, 2001:DB8::1\n192.0.2.10")
    assert addresses(terminal) == ["192.0.2.10", "192.0.2.11", "2001:db8::1"]
    event = AuditEvent.objects.filter(action="terminal.updated").latest("pk")
    assert event.details["addresses"] == [[], ["192.0.2.10", "192.0.2.11", "2001:db8::1"]]


def test_an_address_of_another_terminal_or_not_an_address_is_refused_on_its_field(
    terminal, cabinet, facilities
):
    other = make_terminal(location=cabinet, asset_tag="NW-00002")
    update(other, facilities, "192.0.2.10")
    with pytest.raises(InvalidInput) as refused:
        update(terminal, facilities, "192.0.2.10, nwpc-0001")
    messages = " ".join(refused.value.field_errors["addresses"])
    assert "NW-00002" in messages and "nwpc-0001 is not an IP address" in messages
    assert addresses(terminal) == []


def test_the_edit_page_keeps_the_audit_of_edits_and_the_page_shows_them(
    as_user, facilities, terminal
):
    client = as_user(facilities)
    url = f"/terminals/{terminal.asset_tag}/edit/"
    form = client.get(url)
    assert 'name="addresses"' in form.content.decode()
    response = client.post(
        url,
        {
            "serial_number": "",
            "hostname": "nwpc-0001",
            "model_name": "",
            "custodian": terminal.custodian_id,
            "notes": "",
            "addresses": "192.0.2.10\n192.0.2.11",
        },
    )
    assert response.status_code == 302
    assert addresses(terminal) == ["192.0.2.10", "192.0.2.11"]
    page = client.get(f"/terminals/{terminal.asset_tag}/").content.decode()
    assert "<code>192.0.2.10</code>" in page
    refused = client.post(
        url,
        {"hostname": "nwpc-0001", "custodian": terminal.custodian_id, "addresses": "not-an-ip"},
    )
    assert refused.status_code == 200 and "not-an-ip" in refused.content.decode()
    assert addresses(terminal) == ["192.0.2.10", "192.0.2.11"]


def test_the_api_reads_and_writes_addresses_and_a_patch_without_them_keeps_them(
    api_as, facilities, terminal, cabinet
):
    client = api_as(facilities)
    url = f"/api/v1/terminals/{terminal.asset_tag}/"
    assert client.patch(url, {"addresses": ["192.0.2.10"]}, format="json").json()["addresses"] == [
        "192.0.2.10"
    ]
    assert client.patch(url, {"notes": "棚A"}, format="json").json()["addresses"] == ["192.0.2.10"]
    make_terminal(location=cabinet, asset_tag="NW-00009")
    taken = client.patch(
        "/api/v1/terminals/NW-00009/", {"addresses": ["192.0.2.10"]}, format="json"
    )
    assert taken.status_code == 400 and "addresses" in taken.json()
    created = client.post(
        "/api/v1/terminals/",
        {
            "asset_tag": "NW-00010",
            "location": cabinet.code,
            "custodian": terminal.custodian.code,
            "addresses": ["198.51.100.7"],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["addresses"] == ["198.51.100.7"]
    assert TerminalAddress.objects.count() == 2
