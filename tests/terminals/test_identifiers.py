"""Identifiers people type are one identifier however they are typed (issue 9, item 3): trimmed,
Unicode NFKC (a Japanese IME's full width) and one case, at every edge, with the database
refusing any other stored form; existing rows are migrated."""

import pytest
from django.db import IntegrityError, transaction

from compliance import services as stocktakes
from compliance.models import Discrepancy
from core.errors import InvalidInput
from core.identifiers import normalise_identifier
from terminals import services
from terminals.models import AccessCard, Terminal
from tests.factories import make_terminal
from tests.support.db import migrate_to, nothing_written


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("NW-0001", "NW-0001"),
        (" nw-0001\t", "NW-0001"),
        ("ＮＷ－０００１", "NW-0001"),
        ("ｉｃ-１", "IC-1"),
    ],
)
def test_an_identifier_has_one_form(typed, stored):
    assert normalise_identifier(typed) == stored


def test_a_terminal_typed_in_full_width_is_stored_once(cabinet, facilities):
    terminal = services.terminal_create(
        actor=facilities, asset_tag="ＮＷ－０００７ ", location=cabinet, custodian=cabinet.custodian
    )
    assert terminal.asset_tag == "NW-0007"
    with nothing_written(), pytest.raises(InvalidInput) as refused:
        services.terminal_create(
            actor=facilities, asset_tag="nw-0007", location=cabinet, custodian=cabinet.custodian
        )
    assert "NW-0007" in refused.value.field_errors["asset_tag"][0]


def test_a_card_number_is_stored_in_its_one_form(cabinet, facilities):
    card = services.access_card_create(
        actor=facilities, card_number=" ic-000009 ", kind="entry", location=cabinet
    )
    assert card.card_number == "IC-000009"
    with nothing_written(), pytest.raises(InvalidInput):
        services.access_card_create(
            actor=facilities, card_number="ＩＣ－０００００９", kind="entry", location=cabinet
        )


def test_the_database_refuses_a_tag_in_another_form(cabinet):
    with pytest.raises(IntegrityError), transaction.atomic():
        Terminal.objects.create(asset_tag="nw-lower", location=cabinet, custodian=cabinet.custodian)


def test_the_page_and_the_api_find_a_terminal_typed_in_lower_case(
    as_user, api_as, facilities, cabinet
):
    make_terminal(location=cabinet, asset_tag="NW-0004")
    assert as_user(facilities).get("/terminals/nw-0004/").status_code == 200
    answer = api_as(facilities).get("/api/v1/terminals/ｎｗ－０００４/")
    assert (answer.status_code, answer.json()["asset_tag"]) == (200, "NW-0004")


def test_a_stocktake_scan_in_lower_case_is_the_expected_terminal(
    site, cabinet, facilities, security
):
    make_terminal(location=cabinet, asset_tag="NW-0004")
    stocktake = stocktakes.stocktake_open(site=site, actor=security, reason="manual")
    scan = stocktakes.scan_record(
        stocktake=stocktake, location=cabinet, tag="nw-0004", actor=facilities
    )
    assert scan.result == "expected_here"
    stocktakes.stocktake_close(stocktake=stocktake, actor=security)
    # No unknown tag and no missing NW-0004: the two false discrepancies of the report.
    assert not Discrepancy.objects.filter(stocktake=stocktake).exists()


# Before: the tag migration not applied (nor what follows it in the other apps).
BEFORE = [
    ("terminals", "0003_stocktakes_move_to_compliance"),
    ("compliance", "0001_initial"),
    ("lending", "0001_initial"),
]


@pytest.mark.django_db(transaction=True)
def test_existing_tags_and_card_numbers_are_migrated_to_their_one_form():
    old = migrate_to(BEFORE)
    operator = old.get_model("core", "Organization").objects.create(
        code="op", name="送配電", kind="network_operator"
    )
    site = old.get_model("terminals", "Location").objects.create(
        code="s", name="本店", kind="site", path="s", custodian=operator
    )
    old.get_model("terminals", "Terminal").objects.create(
        asset_tag=" ｎｗ－１", location=site, custodian=operator
    )
    old.get_model("terminals", "AccessCard").objects.create(card_number="ic-1", kind="entry")

    migrate_to()

    assert list(Terminal.objects.values_list("asset_tag", flat=True)) == ["NW-1"]
    assert list(AccessCard.objects.values_list("card_number", flat=True)) == ["IC-1"]


@pytest.mark.django_db(transaction=True)
def test_two_rows_of_the_same_tag_stop_the_migration_and_change_nothing():
    old = migrate_to(BEFORE)
    operator = old.get_model("core", "Organization").objects.create(
        code="op", name="送配電", kind="network_operator"
    )
    site = old.get_model("terminals", "Location").objects.create(
        code="s", name="本店", kind="site", path="s", custodian=operator
    )
    Old = old.get_model("terminals", "Terminal")
    Old.objects.create(asset_tag="NW-2", location=site, custodian=operator)
    Old.objects.create(asset_tag="nw-2", location=site, custodian=operator)

    with pytest.raises(RuntimeError, match="same asset_tag"):
        migrate_to()

    assert sorted(Old.objects.values_list("asset_tag", flat=True)) == ["NW-2", "nw-2"]
    Old.objects.filter(asset_tag="nw-2").update(asset_tag="nw-3")  # a person renamed one
    migrate_to()
    assert sorted(Terminal.objects.values_list("asset_tag", flat=True)) == ["NW-2", "NW-3"]


@pytest.mark.parametrize("typed", ["nw-0042", "ＮＷ－００４２"])
def test_every_api_filter_and_field_naming_a_terminal_finds_it_typed_any_way(
    typed, api_as, security, cabinet, django_capture_on_commit_callbacks
):
    from credentials.accounts import account_create
    from credentials.targets import target_system_create

    local_target = target_system_create(actor=None, code="t", name="T", connector="local")
    terminal = make_terminal(location=cabinet, asset_tag="NW-0042")
    make_terminal(location=cabinet, asset_tag="NW-0043")
    with django_capture_on_commit_callbacks(execute=True):
        account = account_create(actor=None, target_system=local_target, terminal=terminal)
    client = api_as(security)

    listed = client.get("/api/v1/accounts/", {"terminal": typed}).json()
    assert [row["id"] for row in listed["results"]] == [account.pk]
    searched = client.get("/api/v1/terminals/", {"q": typed[:4]}).json()
    assert {row["asset_tag"] for row in searched["results"]} == {"NW-0042", "NW-0043"}
    with django_capture_on_commit_callbacks(execute=True):
        forced = client.post("/api/v1/rotations/", {"terminal": typed}, format="json")
    assert forced.status_code in (200, 201, 202), forced.content
    for path in ("/api/v1/loans/", "/api/v1/access-cards/", "/api/v1/discrepancies/"):
        assert client.get(path, {"terminal": typed}).status_code == 200
