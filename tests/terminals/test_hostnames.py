"""A terminal's hostname is an RFC 1123 name, stored trimmed and in lower case; the same rule
refuses a bad one on the pages, in the API, in the services and in the model's validation."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from core.errors import InvalidInput
from terminals import services
from terminals.models import Terminal
from terminals.validators import validate_hostname
from tests.support.db import nothing_written

TERMINALS = "/api/v1/terminals/"


@pytest.mark.parametrize(
    "hostname",
    [
        "nwpc-0001",
        "a",
        "NWPC-0001",  # accepted as typed; stored in lower case
        "pc1.tokyo.grid.example",
        "0day",
        "x" * 63,
        ".".join(["a" * 63] * 3) + "." + "b" * 61,  # 253 characters
        "",  # none recorded
    ],
)
def test_a_valid_hostname_passes(hostname):
    validate_hostname(hostname)


@pytest.mark.parametrize(
    "hostname",
    [
        "nwpc_0001",  # underscore
        "-nwpc",
        "nwpc-",
        "pc.-tokyo",
        "pc..tokyo",
        "pc.tokyo.",
        ".pc",
        "nw pc",
        "ｎｗｐｃ",  # full-width letters are not ASCII
        "端末01",
        "x" * 64,
        ".".join(["a" * 63] * 4),  # 255 characters
    ],
)
def test_an_invalid_hostname_is_refused(hostname):
    with pytest.raises(ValidationError):
        validate_hostname(hostname)


def test_the_services_store_the_hostname_trimmed_and_in_lower_case(cabinet, facilities):
    terminal = services.terminal_create(
        actor=facilities,
        asset_tag="NW-H1",
        location=cabinet,
        custodian=cabinet.custodian,
        hostname="  NWPC-H1.Tokyo ",
    )
    assert terminal.hostname == "nwpc-h1.tokyo"

    services.terminal_update(
        terminal=terminal,
        actor=facilities,
        serial_number="",
        hostname="NWPC-H1B",
        model_name="",
        custodian=cabinet.custodian,
        notes="",
    )
    terminal.refresh_from_db()
    assert terminal.hostname == "nwpc-h1b"


def test_the_services_refuse_a_bad_hostname_on_its_field_and_write_nothing(cabinet, terminal):
    with nothing_written(terminal), pytest.raises(InvalidInput) as refused:
        services.terminal_update(
            terminal=terminal,
            actor=None,
            serial_number=terminal.serial_number,
            hostname="nwpc_0001",
            model_name=terminal.model_name,
            custodian=terminal.custodian,
            notes=terminal.notes,
        )
    assert list(refused.value.field_errors) == ["hostname"]

    with nothing_written(), pytest.raises(InvalidInput) as refused:
        services.terminal_create(
            actor=None,
            asset_tag="NW-BAD",
            location=cabinet,
            custodian=cabinet.custodian,
            hostname="-bad",
        )
    assert list(refused.value.field_errors) == ["hostname"]


def test_the_models_validation_names_the_hostname(terminal):
    terminal.hostname = "nwpc 0001"
    with pytest.raises(ValidationError) as refused:
        terminal.full_clean()
    assert "hostname" in refused.value.message_dict


def test_the_edit_page_shows_the_rule_on_the_hostname_field(as_user, facilities, terminal):
    with nothing_written(terminal):
        response = as_user(facilities).post(
            reverse("terminals:edit", args=[terminal.asset_tag]),
            {
                "serial_number": terminal.serial_number,
                "hostname": "nwpc_0001",
                "model_name": terminal.model_name,
                "custodian": terminal.custodian_id,
                "notes": "",
            },
        )

    assert response.status_code == 200
    assert response.context["form"].errors["hostname"]
    assert 'value="nwpc_0001"' in response.content.decode()  # what was typed is kept


def test_the_add_page_stores_a_typed_hostname_in_lower_case(as_user, facilities, cabinet):
    response = as_user(facilities).post(
        reverse("terminals:create"),
        {"asset_tag": "NW-NEW", "hostname": " NWPC-NEW ", "location": cabinet.pk},
    )

    assert response.status_code == 302
    assert Terminal.objects.get(asset_tag="NW-NEW").hostname == "nwpc-new"


def test_the_api_answers_400_with_a_message_on_the_hostname(api_as, facilities, terminal):
    client = api_as(facilities)
    with nothing_written(terminal):
        created = client.post(
            TERMINALS,
            {
                "asset_tag": "NW-API",
                "location": "hq-cab-1",
                "custodian": "tepco-pg",
                "hostname": "nw_api",
            },
            format="json",
        )
        patched = client.patch(
            f"{TERMINALS}{terminal.asset_tag}/", {"hostname": "nwpc-"}, format="json"
        )

    for response in (created, patched):
        assert response.status_code == 400, response.content
        assert response.json()["hostname"][0]


def test_the_api_stores_the_hostname_in_lower_case(api_as, facilities, terminal):
    response = api_as(facilities).patch(
        f"{TERMINALS}{terminal.asset_tag}/", {"hostname": "NWPC-0001.TOKYO"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["hostname"] == "nwpc-0001.tokyo"
