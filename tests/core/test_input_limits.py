"""Bad input answers 400 (or 404, 413) with a message, never 500: identifiers that cannot be a
path segment, NUL characters, time zone offsets PostgreSQL refuses, format suffixes, deep or
large JSON, oversized uploads and CSV files; and a bad identifier stored before the rule still
leaves every list readable (core.input_limits, terminals.validators, core.identifiers)."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework import serializers

from core.input_limits import BoundedDateTimeField
from credentials.targets import target_system_create
from terminals.csv_io import CsvImportError, import_terminals_csv
from terminals.models import AccessCard, Location, Terminal
from tests.factories import make_card, make_terminal
from tests.support.db import nothing_written

NUL_REFUSED = "Null characters are not allowed"

# Asset tags and card numbers ------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["NW/0001", "NW\\0001", "..", "NW\x070001"])
def test_the_api_refuses_an_asset_tag_that_cannot_be_a_page_address(
    api_as, facilities, cabinet, operator, tag
):
    with nothing_written():
        response = api_as(facilities).post(
            "/api/v1/terminals/",
            {"asset_tag": tag, "location": cabinet.code, "custodian": operator.code},
            format="json",
        )

    assert response.status_code == 400
    assert response.json()["asset_tag"]


def test_the_api_refuses_a_card_number_with_a_slash(api_as, facilities, cabinet):
    with nothing_written():
        response = api_as(facilities).post(
            "/api/v1/access-cards/", {"card_number": "IC/1", "kind": "entry"}, format="json"
        )

    assert response.status_code == 400
    assert "slash" in response.json()["card_number"][0]


def test_the_terminal_page_form_refuses_an_asset_tag_with_a_slash(
    as_user, facilities, cabinet, operator
):
    response = as_user(facilities).post(
        "/terminals/new/",
        {"asset_tag": "NW/9", "location": cabinet.pk, "custodian": operator.pk},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code in {200, 400}
    assert not Terminal.objects.filter(asset_tag="NW/9").exists()


def test_the_csv_import_refuses_an_asset_tag_with_a_slash_on_its_row(facilities, cabinet):
    data = b"asset_tag,location\nNW-0100,hq-cab-1\nNW/0101,hq-cab-1\n"

    with pytest.raises(CsvImportError) as refused:
        import_terminals_csv(actor=facilities, data=data)

    assert [(e.row, e.field) for e in refused.value.errors] == [(3, "asset_tag")]
    assert not Terminal.objects.filter(asset_tag="NW-0100").exists()


@pytest.fixture
def stored_with_slashes(cabinet):
    """A terminal and a card whose identifiers have a slash, stored before the rule existed."""
    terminal = make_terminal(location=cabinet, asset_tag="OLD-1")
    card = make_card(location=cabinet, terminal=terminal, card_number="OLD-C1")
    Terminal.objects.filter(pk=terminal.pk).update(asset_tag="OLD/1")
    AccessCard.objects.filter(pk=card.pk).update(card_number="OLD/C1")
    return terminal, card


@pytest.mark.parametrize("url", ["/", "/terminals/", "/terminals/cards/"])
def test_a_stored_identifier_with_a_slash_leaves_the_lists_and_the_dashboard_readable(
    as_user, facilities, stored_with_slashes, url
):
    response = as_user(facilities).get(url, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200


def test_the_list_links_a_stored_identifier_with_a_slash_to_its_own_page(
    as_user, facilities, stored_with_slashes
):
    client = as_user(facilities)
    listing = client.get("/terminals/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert 'href="/terminals/OLD%252F1/"' in listing
    detail = client.get("/terminals/OLD%252F1/", HTTP_ACCEPT_LANGUAGE="en")
    assert detail.status_code == 200
    assert "OLD/1" in detail.content.decode()
    card = client.get("/terminals/cards/OLD%252FC1/", HTTP_ACCEPT_LANGUAGE="en")
    assert card.status_code == 200


# NUL characters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/terminals/?q=a%00b", "/terminals/NW%0001/", "/api/v1/terminals/?search=%00"]
)
def test_a_nul_in_the_address_or_its_parameters_is_a_400_with_a_message(as_user, facilities, url):
    response = as_user(facilities).get(url, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 400
    assert NUL_REFUSED in response.content.decode()


def test_the_api_answers_a_nul_in_the_address_as_json(api_as, facilities):
    response = api_as(facilities).get("/api/v1/terminals/?search=a%00")

    assert response.status_code == 400
    assert NUL_REFUSED in response.json()["detail"]


def test_a_nul_in_a_json_field_is_a_400_on_that_field(api_as, facilities, cabinet, operator):
    with nothing_written():
        response = api_as(facilities).post(
            "/api/v1/terminals/",
            {
                "asset_tag": "NW-7",
                "location": cabinet.code,
                "custodian": operator.code,
                "notes": "a\x00b",
            },
            format="json",
        )

    assert response.status_code == 400
    assert response.json() == {"notes": ["Null characters are not allowed."]}


def test_a_nul_in_a_csv_cell_refuses_the_file_at_its_line(facilities, cabinet):
    data = b"asset_tag,location,notes\nNW-0200,hq-cab-1,ok\nNW-0201,hq-cab-1,a\x00b\n"

    with pytest.raises(CsvImportError) as refused:
        import_terminals_csv(actor=facilities, data=data)

    assert [error.row for error in refused.value.errors] == [3]
    assert NUL_REFUSED in refused.value.errors[0].message


# Ids, date-times, format suffixes, JSON ------------------------------------------------------


def test_a_word_for_a_rotation_id_is_a_404_in_json(api_as, security):
    response = api_as(security).post("/api/v1/rotations/abc/verify/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize(
    "moment",
    ["2026-01-01T00:00:00+16:00", "2026-01-01T00:00:00-23:59", "9999-12-31T23:59:59-15:00"],
)
def test_a_date_time_the_database_cannot_store_is_a_400_on_its_filter(api_as, security, moment):
    response = api_as(security).get("/api/v1/events/", {"since": moment})

    assert response.status_code == 400
    assert list(response.json()) == ["since"]


def test_an_offset_within_15_59_is_read_as_that_moment(api_as, security):
    response = api_as(security).get("/api/v1/events/", {"since": "2026-01-01T00:00:00+15:59"})

    assert response.status_code == 200


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_json_format_suffix_finds_nothing_instead_of_failing(api_as, facilities, method):
    response = getattr(api_as(facilities), method)("/api/v1/terminals.json")

    assert response.status_code == 404


def test_json_nested_deeper_than_the_limit_is_a_400(api_as, facilities, settings):
    settings.JSON_MAX_DEPTH = 32
    client = api_as(facilities)
    deep = "[" * 33 + "]" * 33
    very_deep = "[" * 100_000 + "]" * 100_000  # deeper than Python's decoder can recurse

    for body in (deep, very_deep):
        response = client.post("/api/v1/terminals/", body, content_type="application/json")
        assert response.status_code == 400
        assert response.json() == {"detail": "The JSON nests deeper than 32 levels."}


def test_json_within_the_depth_limit_reaches_the_fields(api_as, facilities, settings):
    settings.JSON_MAX_DEPTH = 32
    body = '{"asset_tag": ' + "[" * 31 + "]" * 31 + "}"

    response = api_as(facilities).post("/api/v1/terminals/", body, content_type="application/json")

    assert response.status_code == 400
    assert "asset_tag" in response.json()


def test_a_json_body_larger_than_the_limit_is_a_413(api_as, facilities, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = '{"notes": "' + "x" * 2000 + '"}'

    response = api_as(facilities).post("/api/v1/terminals/", body, content_type="application/json")

    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]


def test_a_request_larger_than_the_limit_is_a_413_before_it_is_read(api_as, facilities, settings):
    settings.REQUEST_MAX_BYTES = 1000

    response = api_as(facilities).post("/api/v1/terminals/", {"notes": "x" * 2000}, format="json")

    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]


# Locations -----------------------------------------------------------------------------------


@pytest.mark.parametrize("parent", ["self", "inside"])
def test_a_location_cannot_be_put_inside_itself_through_the_api(
    api_as, facilities, site, cabinet, operator, parent
):
    new_parent = site.code if parent == "self" else cabinet.code
    with nothing_written():
        response = api_as(facilities).patch(
            f"/api/v1/locations/{site.code}/", {"parent": new_parent}, format="json"
        )

    assert response.status_code == 400
    assert response.json()["parent"] == ["A location cannot be inside itself."]
    assert Location.objects.get(pk=site.pk).parent is None


def test_a_location_sent_back_with_its_own_parent_is_saved(api_as, facilities, cabinet):
    response = api_as(facilities).patch(
        f"/api/v1/locations/{cabinet.code}/",
        {"parent": cabinet.parent.code, "name": "保管庫A"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["name"] == "保管庫A"


# Sizes: strings, uploads, CSV rows -----------------------------------------------------------


def _request_serializers(client) -> set[type[serializers.Serializer]]:
    """The serializers the schema names as request bodies (a component is named after its
    serializer, without "Serializer"; "Patched" for a partial update)."""
    schema = client.get("/api/schema/", {"format": "json"}).json()
    names = set()
    for methods in schema["paths"].values():
        for operation in methods.values():
            for content in operation.get("requestBody", {}).get("content", {}).values():
                ref = content["schema"].get("$ref", "")
                names.add(ref.rsplit("/", 1)[-1].removeprefix("Patched"))

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    return {
        cls
        for cls in subclasses(serializers.Serializer)
        if cls.__name__.removesuffix("Serializer") in names
    }


def test_every_text_field_the_api_takes_has_a_maximum_length(client, db):
    """Each writable CharField of a request body (a list's items included) is bounded;
    references by code are lookups (related fields), not text that is stored."""
    found = _request_serializers(client)
    unbounded = []
    for cls in found:
        for name, field in cls().fields.items():
            field = getattr(field, "child", field)
            if (
                isinstance(field, serializers.CharField)
                and not field.read_only
                and field.max_length is None
            ):
                unbounded.append(f"{cls.__name__}.{name}")

    assert len(found) > 20, "the request bodies were found"
    assert unbounded == []


def test_an_access_log_file_over_its_limit_is_a_400_on_the_file(api_as, security, settings):
    target_system_create(actor=None, code="callcenter", name="CC", connector="local")
    settings.ACCESS_LOG_UPLOAD_MAX_BYTES = 100
    upload = SimpleUploadedFile("big.csv", b"x" * 200, "text/csv")

    with nothing_written():
        response = api_as(security).post(
            "/api/v1/access-logs/",
            {"target": "callcenter", "format": "csv", "file": upload},
            format="multipart",
        )

    assert response.status_code == 400
    assert "larger than" in response.json()["file"][0]


def test_a_csv_file_with_more_rows_than_the_limit_is_refused(facilities, cabinet, settings):
    settings.CSV_IMPORT_MAX_ROWS = 3
    data = "asset_tag,location\n" + "".join(f"NW-03{n:02d},hq-cab-1\n" for n in range(4))

    with pytest.raises(CsvImportError) as refused:
        import_terminals_csv(actor=facilities, data=data.encode())

    assert "more than 3 rows" in refused.value.errors[0].message
    assert not Terminal.objects.filter(asset_tag__startswith="NW-03").exists()


@pytest.mark.parametrize(
    ("typed", "error"),
    [("2026-01-01T00:00:00+16:00", "-15:59"), ("9999-12-31T23:59:59-15:00", "out of the range")],
)
def test_a_page_form_refuses_a_date_time_the_database_cannot_store(typed, error):
    with pytest.raises(ValidationError) as refused:
        BoundedDateTimeField().clean(typed)

    assert error in refused.value.messages[0]


def test_a_page_form_reads_an_offset_within_range_in_local_time():
    moment = BoundedDateTimeField().clean("2026-01-01T00:00:00+15:00")

    assert moment.isoformat() == "2025-12-31T18:00:00+09:00"
