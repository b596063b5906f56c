"""Codes people type (an organization's, a location's, a target system's) are one code however
they are typed: trimmed, Unicode NFKC (a Japanese IME's full width) and lower case, at every edge
(services, pages, API, CSV, lookups), with the database refusing any other stored form; existing
rows are migrated, and two rows that were one code stop the migration."""

import pytest
from django.db import IntegrityError, connection, transaction

from core.errors import InvalidInput
from core.identifiers import normalise_code
from core.models import Organization
from core.services import organization_create
from credentials.models import TargetSystem
from credentials.targets import target_system_create
from terminals import services
from terminals.csv_io import CsvImportError, import_locations_csv, import_terminals_csv
from terminals.models import Location, Terminal
from tests.support.db import migrate_to, nothing_written


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("honten", "honten"), (" HONTEN\t", "honten"), ("ＨＯＮＴＥＮ－２", "honten-2")],
)
def test_a_code_has_one_form(typed, stored):
    assert normalise_code(typed) == stored


def test_a_location_typed_in_upper_case_or_full_width_is_one_location(operator, facilities):
    site = services.location_create(
        actor=facilities, code="ＳＩＴＥ－Ｂ", name="B", kind="site", custodian=operator
    )
    assert site.code == "site-b"
    assert Location.objects.get(code="SITE-B") == site
    with nothing_written(), pytest.raises(InvalidInput) as refused:
        services.location_create(
            actor=facilities, code="Site-B", name="B again", kind="site", custodian=operator
        )
    assert "site-b" in refused.value.field_errors["code"][0]


def test_an_organization_and_a_target_system_are_one_code_however_typed(security):
    organization = organization_create(
        actor=security, code="Kanto-X", name="関東X", kind=Organization.Kind.CONTRACTOR
    )
    target = target_system_create(actor=security, code="ＮＯＬ", name="NOL", connector="local")
    assert (organization.code, target.code) == ("kanto-x", "nol")
    with nothing_written(), pytest.raises(InvalidInput) as refused:
        organization_create(
            actor=security, code="KANTO-X", name="again", kind=Organization.Kind.CONTRACTOR
        )
    assert "code" in refused.value.field_errors
    with nothing_written(), pytest.raises(InvalidInput) as refused:
        target_system_create(actor=security, code="nol", name="again", connector="local")
    assert "code" in refused.value.field_errors


def test_the_database_refuses_a_code_in_another_form(operator, site):
    target = target_system_create(actor=None, code="t", name="T", connector="local")
    for table, pk in (
        (Organization._meta.db_table, operator.pk),
        (Location._meta.db_table, site.pk),
        (TargetSystem._meta.db_table, target.pk),
    ):
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET code = 'UPPER' WHERE id = %s", [pk])


def test_the_location_page_stores_a_code_typed_in_full_width(as_user, facilities, operator):
    answer = as_user(facilities).post(
        "/terminals/locations/new/",
        {"code": "ＳＩＴＥ－Ｅ", "name": "E", "kind": "site", "custodian": operator.pk},
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    assert Location.objects.filter(code="site-e").exists()


def test_the_contractor_page_refuses_a_code_taken_in_another_case(as_user, facilities):
    client = as_user(facilities)
    assert (
        client.post("/lending/contractors/new/", {"code": "Hoku", "name": "北"}).status_code == 302
    )
    assert Organization.objects.filter(code="hoku").exists()
    with nothing_written():
        again = client.post("/lending/contractors/new/", {"code": "HOKU", "name": "北2"})
    assert again.status_code == 200
    assert again.context["form"].errors["code"]


def test_the_api_takes_and_finds_codes_typed_any_way(api_as, facilities, security, operator):
    answer = api_as(facilities).post(
        "/api/v1/locations/",
        {"code": "ＳＩＴＥ－Ｃ", "name": "C", "kind": "site", "custodian": operator.code.upper()},
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    assert (answer.json()["code"], answer.json()["custodian"]) == ("site-c", operator.code)
    assert api_as(facilities).get("/api/v1/locations/SITE-C/").json()["code"] == "site-c"
    building = api_as(facilities).post(
        "/api/v1/locations/",
        {
            "code": "site-c-b1",
            "name": "B1",
            "kind": "building",
            "parent": "Site-C",
            "custodian": operator.code,
        },
        format="json",
    )
    assert (building.status_code, building.json()["parent"]) == (201, "site-c")

    target = api_as(security).post(
        "/api/v1/target-systems/", {"code": "Call", "name": "Call", "connector": "local"}
    )
    assert (target.status_code, target.json()["code"]) == (201, "call")
    assert api_as(security).get("/api/v1/target-systems/CALL/").status_code == 200
    again = api_as(security).post(
        "/api/v1/target-systems/", {"code": "ＣＡＬＬ", "name": "Call", "connector": "local"}
    )
    assert again.status_code == 400 and "code" in again.json()

    organization = api_as(facilities).post(
        "/api/v1/organizations/", {"code": "Tohoku", "name": "東北", "kind": "contractor"}
    )
    assert (organization.status_code, organization.json()["code"]) == (201, "tohoku")


def test_csv_files_name_codes_in_any_case(facilities, cabinet, operator):
    created = import_locations_csv(
        actor=facilities,
        data=f"code,name,kind,parent,custodian\nSITE-F,F,site,,{operator.code.upper()}\n"
        "ｓｉｔｅ－ｆ－ｂ,B,building,Site-F,\n".encode(),
    )
    assert [location.code for location in created] == ["site-f", "site-f-b"]
    with pytest.raises(CsvImportError) as refused:
        import_locations_csv(
            actor=facilities,
            data=f"code,name,kind,custodian\nsite-g,G,site,{operator.code}\n"
            f"SITE-G,G2,site,{operator.code}\n".encode(),
        )
    assert [(error.row, error.field) for error in refused.value.errors] == [(3, "code")]

    import_terminals_csv(
        actor=facilities, data=f"asset_tag,location\nNW-0900,{cabinet.code.upper()}\n".encode()
    )
    assert Terminal.objects.get(asset_tag="NW-0900").location == cabinet


# Before: the code migrations not applied (nor what follows them).
BEFORE = [
    ("core", "0009_authenticators"),
    ("terminals", "0006_terminal_addresses"),
    ("credentials", "0003_rotation_claim"),
]


def _old_rows(old, *, site_code: str):
    operator = old.get_model("core", "Organization").objects.create(
        code="OP", name="送配電", kind="network_operator"
    )
    old.get_model("terminals", "Location").objects.create(
        code=site_code, name="本店", kind="site", path="/1/", custodian=operator
    )
    old.get_model("credentials", "TargetSystem").objects.create(
        code=" NOL", name="NOL", connector="local"
    )


@pytest.mark.django_db(transaction=True)
def test_existing_codes_are_migrated_to_their_one_form():
    _old_rows(migrate_to(BEFORE), site_code="ＨＱ")

    migrate_to()

    assert list(Organization.objects.values_list("code", flat=True)) == ["op"]
    assert list(Location.objects.values_list("code", flat=True)) == ["hq"]
    assert list(TargetSystem.objects.values_list("code", flat=True)) == ["nol"]


@pytest.mark.django_db(transaction=True)
def test_two_locations_of_one_code_stop_the_migration_and_change_nothing():
    old = migrate_to(BEFORE)
    _old_rows(old, site_code="HQ")
    OldLocation = old.get_model("terminals", "Location")
    OldLocation.objects.create(
        code="hq",
        name="別",
        kind="site",
        path="/2/",
        custodian_id=OldLocation.objects.get().custodian_id,
    )

    with pytest.raises(RuntimeError, match="'HQ' and 'hq'"):
        migrate_to()

    assert sorted(OldLocation.objects.values_list("code", flat=True)) == ["HQ", "hq"]
    OldLocation.objects.filter(code="hq").update(code="hq-2")  # a person renamed one
    migrate_to()
    assert sorted(Location.objects.values_list("code", flat=True)) == ["hq", "hq-2"]
