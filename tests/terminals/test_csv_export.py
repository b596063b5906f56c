import csv
import io

from django.core.management import call_command
from django.db import transaction

from terminals import services
from terminals.csv_io import (
    export_locations_csv,
    export_terminals_csv,
    import_locations_csv,
    import_terminals_csv,
)
from terminals.models import Location, Movement, Terminal
from tests.factories import make_location, make_terminal


def exported(chunks) -> str:
    return "".join(chunks)


def parsed(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline="")))


def inventory() -> tuple[list[tuple], list[tuple]]:
    locations = Location.objects.order_by("code").values_list(
        "code", "name", "kind", "parent__code", "custodian__code", "secured", "address"
    )
    terminals = Terminal.objects.order_by("asset_tag").values_list(
        "asset_tag",
        "serial_number",
        "hostname",
        "model_name",
        "location__code",
        "custodian__code",
        "notes",
    )
    return list(locations), list(terminals)


def test_an_export_reimports_into_an_empty_inventory_as_it_was(
    facilities, operator, contractor_org
):
    with transaction.atomic():
        site = make_location(code="hq", name="本店", custodian=operator)
        services.location_update(
            location=site,
            actor=None,
            name="本店",
            custodian=operator,
            secured=True,
            address="東京都千代田区",
        )
        building = make_location(kind="building", parent=site, code="hq-b1", name="本館")
        room = make_location(
            kind="room", parent=building, code="hq-b1-lobby", name="ロビー", secured=False
        )
        make_location(kind="cabinet", parent=room, code="hq-cab-1", name="保管庫1")
        make_terminal(
            location=room, asset_tag="NW-0001", notes="予備機, 二台目\n付属品: ACアダプタ"
        )
        lent = make_terminal(location=room, asset_tag="NW-0002", custodian=contractor_org)
        services.terminal_reserve(terminal=lent, actor=None)
        services.terminal_lend(terminal=lent, actor=None)
        make_terminal(location=room, asset_tag="NW-0003", notes='=HYPERLINK("x")', hostname="")
        before = inventory()
        locations_csv = exported(export_locations_csv(Location.objects.all()))
        terminals_csv = exported(export_terminals_csv(Terminal.objects.all()))
        transaction.set_rollback(True)
    assert not Terminal.objects.exists() and not Location.objects.exists()

    import_locations_csv(actor=facilities, data=locations_csv.encode())
    import_terminals_csv(actor=facilities, data=terminals_csv.encode())

    assert inventory() == before
    assert set(Terminal.objects.values_list("status", flat=True)) == {Terminal.Status.IN_STORAGE}
    assert Movement.objects.count() == 3


def test_the_export_opens_in_excel_with_the_importers_columns_plus_status_and_site(cabinet):
    make_terminal(location=cabinet, asset_tag="NW-0001", notes="-5 V 出力")

    chunks = list(export_terminals_csv(Terminal.objects.all()))

    assert chunks[0].startswith("\ufeffasset_tag,")
    rows = parsed("".join(chunks))
    assert list(rows[0]) == [
        "asset_tag",
        "serial_number",
        "hostname",
        "model",
        "location",
        "custodian",
        "notes",
        "status",
        "site",
    ]
    assert rows[0]["location"] == "hq-cab-1"
    assert rows[0]["site"] == "hq"
    assert rows[0]["status"] == "in_storage"
    # Excel would run a cell starting with -, =, + or @ as a formula.
    assert rows[0]["notes"] == "'-5 V 出力"


def test_the_export_reads_the_terminals_in_one_query(cabinet, django_assert_num_queries):
    for _ in range(5):
        make_terminal(location=cabinet)

    with django_assert_num_queries(1):
        rows = parsed("".join(export_terminals_csv(Terminal.objects.all())))

    assert len(rows) == 5


def test_the_export_command_writes_a_file_that_imports(facilities, cabinet, tmp_path):
    make_terminal(location=cabinet, asset_tag="NW-0001")
    path = tmp_path / "terminals.csv"

    call_command("export_terminals", "--output", str(path))

    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfasset_tag,")
    assert [row["asset_tag"] for row in parsed(data.decode())] == ["NW-0001"]
