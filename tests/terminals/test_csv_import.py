import codecs

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.models import AuditEvent
from terminals import csv_io, services
from terminals.csv_io import CsvImportError, RowError, import_locations_csv, import_terminals_csv
from terminals.models import Location, Movement, Terminal
from tests.factories import make_terminal, make_user
from tests.support.db import nothing_written


def counts() -> tuple[int, int, int, int]:
    return (
        Terminal.objects.count(),
        Location.objects.count(),
        Movement.objects.count(),
        AuditEvent.objects.count(),
    )


def refused(importer, actor, text: str | bytes) -> list[RowError]:
    """Import a file that must be refused; check that nothing was written; return the errors."""
    before = counts()
    data = text if isinstance(text, bytes) else text.encode()
    with pytest.raises(CsvImportError) as caught:
        importer(actor=actor, data=data)
    assert counts() == before
    return caught.value.errors


def rows_and_fields(errors: list[RowError]) -> list[tuple[int, str]]:
    return [(error.row, error.field) for error in errors]


# Terminals ------------------------------------------------------------------------------------


def test_a_utf8_file_creates_each_terminal_in_storage_with_its_event_and_movement(
    facilities, cabinet, contractor_org
):
    data = (
        "asset_tag,serial_number,hostname,model,location,custodian,notes\n"
        "NW-0001,SN1,nwpc-1,ThinkPad L14,hq-cab-1,,予備機\n"
        "NW-0002,SN2,nwpc-2,ThinkPad L14,hq-cab-1,kanto-denko,\n"
    ).encode()

    created = import_terminals_csv(actor=facilities, data=data)

    assert [t.asset_tag for t in created] == ["NW-0001", "NW-0002"]
    first, second = Terminal.objects.order_by("asset_tag")
    assert (first.hostname, first.model_name, first.notes) == ("nwpc-1", "ThinkPad L14", "予備機")
    assert first.status == Terminal.Status.IN_STORAGE
    assert first.location == cabinet
    assert first.custodian == cabinet.custodian, "custodian defaults to the location's"
    assert second.custodian == contractor_org
    events = AuditEvent.objects.filter(action="terminal.created")
    assert sorted(events.values_list("object_id", flat=True)) == sorted(
        [str(first.pk), str(second.pk)]
    )
    assert set(events.values_list("actor_username", flat=True)) == {"fiona"}
    assert first.movements.count() == 1
    assert second.movements.count() == 1


def test_an_excel_csv_utf8_file_with_bom_crlf_and_trailing_empty_lines_imports(facilities, cabinet):
    text = (
        "asset_tag,location,notes\r\n"
        "  NW-0100 , hq-cab-1 ,  本店 保管庫  \r\n"
        '"NW-0101",hq-cab-1,"二行の\r\nメモ, カンマ付き"\r\n'
        ",,\r\n"
        "\r\n"
    )

    created = import_terminals_csv(actor=facilities, data=codecs.BOM_UTF8 + text.encode())

    assert [t.asset_tag for t in created] == ["NW-0100", "NW-0101"]
    assert Terminal.objects.get(asset_tag="NW-0100").notes == "本店 保管庫"
    assert Terminal.objects.get(asset_tag="NW-0101").notes == "二行の\r\nメモ, カンマ付き"


def test_a_missing_required_column_is_reported_on_row_1_and_nothing_is_written(facilities, cabinet):
    errors = refused(import_terminals_csv, facilities, "asset_tag,hostname\nNW-1,pc\n")

    assert rows_and_fields(errors) == [(1, "location")]


def test_an_unknown_column_is_refused_on_row_1(facilities, cabinet):
    errors = refused(
        import_terminals_csv, facilities, "asset_tag,location,colour\nNW-1,hq-cab-1,red\n"
    )

    assert rows_and_fields(errors) == [(1, "colour")]


def test_a_tag_twice_in_the_file_is_refused_on_its_second_row(facilities, cabinet):
    with translation.override("en"):
        errors = refused(
            import_terminals_csv,
            facilities,
            "asset_tag,location\nNW-1,hq-cab-1\nNW-2,hq-cab-1\nNW-1,hq-cab-1\n",
        )

    assert rows_and_fields(errors) == [(4, "asset_tag")]
    assert "row 2" in errors[0].message


def test_a_tag_already_in_the_inventory_cannot_be_changed_without_the_change_permission(
    operator, cabinet
):
    make_terminal(location=cabinet, asset_tag="NW-7")
    adder = make_user("adder", None, operator)
    adder.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="terminals", codename__in=["view_terminal", "add_terminal"]
        )
    )

    errors = refused(
        import_terminals_csv, adder, "asset_tag,location,notes\nNW-7,hq-cab-1,changed\n"
    )

    assert rows_and_fields(errors) == [(2, "asset_tag")]


def test_an_unknown_location_or_custodian_is_refused(facilities, cabinet):
    errors = refused(
        import_terminals_csv,
        facilities,
        "asset_tag,location,custodian\nNW-1,nowhere,\nNW-2,hq-cab-1,nobody\n",
    )

    assert rows_and_fields(errors) == [(2, "location"), (3, "custodian")]


def test_a_shift_jis_file_is_refused_at_its_first_japanese_line(facilities, cabinet):
    data = "asset_tag,location,notes\nNW-1,hq-cab-1,spare\nNW-2,hq-cab-1,予備機\n".encode("cp932")

    with translation.override("en"):
        errors = refused(import_terminals_csv, facilities, data)

    assert rows_and_fields(errors) == [(3, "")]
    assert "CSV UTF-8" in errors[0].message


@pytest.mark.parametrize("data", [b"", b"\r\n\r\n", codecs.BOM_UTF8])
def test_an_empty_file_is_refused(facilities, data):
    errors = refused(import_terminals_csv, facilities, data)

    assert rows_and_fields(errors) == [(1, "")]


def test_a_header_without_rows_is_refused(facilities):
    errors = refused(import_terminals_csv, facilities, "asset_tag,location\n")

    assert rows_and_fields(errors) == [(1, "")]


def test_every_bad_row_is_reported_and_the_good_rows_between_them_are_not_written(
    facilities, cabinet
):
    errors = refused(
        import_terminals_csv,
        facilities,
        "asset_tag,location,hostname\n"
        ",hq-cab-1,pc-1\n"
        "NW-2,hq-cab-1,pc-2\n"
        "NW-3,nowhere," + "x" * 200 + "\n",
    )

    assert rows_and_fields(errors) == [(2, "asset_tag"), (4, "hostname"), (4, "location")]


def test_a_row_with_more_or_fewer_values_than_the_header_is_refused(facilities, cabinet):
    errors = refused(
        import_terminals_csv,
        facilities,
        "asset_tag,location\nNW-1,hq-cab-1,extra\nNW-2\n",
    )

    assert rows_and_fields(errors) == [(2, ""), (3, "")]


def test_a_row_refused_while_writing_rolls_back_the_rows_before_it(
    facilities, cabinet, monkeypatch
):
    """A tag taken by another writer between the check and the write undoes the whole file."""
    create = services.terminal_create

    def create_losing_the_race_on_the_second_row(**fields):
        if fields["asset_tag"] == "NW-2":
            create(actor=None, asset_tag="NW-2", location=cabinet, custodian=cabinet.custodian)
        return create(**fields)

    monkeypatch.setattr(services, "terminal_create", create_losing_the_race_on_the_second_row)

    with pytest.raises(CsvImportError) as caught:
        import_terminals_csv(
            actor=facilities, data=b"asset_tag,location\nNW-1,hq-cab-1\nNW-2,hq-cab-1\n"
        )

    assert rows_and_fields(caught.value.errors) == [(3, "asset_tag")]
    assert not Terminal.objects.exists()
    assert not AuditEvent.objects.filter(action="terminal.created").exists()


BAD_ROWS = {
    "unknown location": "{tag},nowhere,",
    "empty tag": ",hq-cab-1,",
    "tag in inventory, moved": "NW-EXISTING,hq-b1-3f-sec,",
    "unknown custodian": "{tag},hq-cab-1,nobody",
    "too many values": "{tag},hq-cab-1,,extra",
}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.one_of(st.just("good"), st.sampled_from(sorted(BAD_ROWS))), min_size=1, max_size=8
    ).filter(lambda rows: any(row != "good" for row in rows))
)
def test_any_file_with_a_bad_row_writes_nothing_and_names_every_bad_row(facilities, cabinet, rows):
    if not Terminal.objects.filter(asset_tag="NW-EXISTING").exists():
        make_terminal(location=cabinet, asset_tag="NW-EXISTING")
    lines = [
        ("{tag},hq-cab-1," if row == "good" else BAD_ROWS[row]).format(tag=f"NW-P{n}")
        for n, row in enumerate(rows)
    ]
    text = "asset_tag,location,custodian\n" + "\n".join(lines) + "\n"

    errors = refused(import_terminals_csv, facilities, text)

    bad_lines = {n + 2 for n, row in enumerate(rows) if row != "good"}
    assert {error.row for error in errors} == bad_lines


# Re-importing an export: preview, then apply ----------------------------------------------------


def export_of(*terminals: Terminal) -> str:
    return "".join(
        csv_io.export_terminals_csv(Terminal.objects.filter(pk__in=[t.pk for t in terminals]))
    )


def with_cell(text: str, tag: str, column: str, value: str) -> str:
    """The exported CSV with one cell of the row of `tag` replaced."""
    header, *lines = text.removeprefix("\ufeff").splitlines()
    columns = header.split(",")
    rows = []
    for line in lines:
        cells = line.split(",")
        if cells[0] == tag:
            cells[columns.index(column)] = value
        rows.append(",".join(cells))
    return "\n".join([header, *rows]) + "\n"


@pytest.fixture
def two_terminals(cabinet):
    return (
        make_terminal(location=cabinet, asset_tag="NW-0001", hostname="nwpc-1", notes="予備機"),
        make_terminal(location=cabinet, asset_tag="NW-0002", hostname="nwpc-2"),
    )


def test_an_export_previews_as_all_unchanged_and_applying_it_writes_nothing(
    facilities, two_terminals
):
    data = export_of(*two_terminals).encode()

    with nothing_written(*two_terminals):
        preview = csv_io.preview_terminals_csv(actor=facilities, data=data)
        result = csv_io.apply_terminals_csv(actor=facilities, data=data, token=preview.token)

    assert [(row.line, row.asset_tag, row.outcome) for row in preview.rows] == [
        (2, "NW-0001", csv_io.UNCHANGED),
        (3, "NW-0002", csv_io.UNCHANGED),
    ]
    assert not preview.can_apply
    assert (result.created, result.updated, result.unchanged) == ([], [], 2)


def test_a_changed_cell_is_previewed_as_exactly_that_change_and_nothing_is_written(
    facilities, two_terminals
):
    data = with_cell(export_of(*two_terminals), "NW-0002", "hostname", "nwpc-2b").encode()

    with nothing_written(*two_terminals):
        preview = csv_io.preview_terminals_csv(actor=facilities, data=data)

    first, second = preview.rows
    assert first.outcome == csv_io.UNCHANGED
    assert second.outcome == csv_io.UPDATE
    assert second.changes == (csv_io.FieldChange("hostname", "nwpc-2", "nwpc-2b"),)
    assert preview.counts == {"create": 0, "update": 1, "unchanged": 1, "error": 0}
    assert preview.can_apply


def test_applying_the_preview_changes_the_terminal_with_one_audit_event(
    facilities, contractor_org, two_terminals
):
    text = with_cell(export_of(*two_terminals), "NW-0001", "custodian", contractor_org.code)
    text += "NW-0003,,nwpc-3,,hq-cab-1,,,,\n"
    data = text.encode()
    preview = csv_io.preview_terminals_csv(actor=facilities, data=data)

    result = csv_io.apply_terminals_csv(actor=facilities, data=data, token=preview.token)

    assert [t.asset_tag for t in result.created] == ["NW-0003"]
    assert [t.asset_tag for t in result.updated] == ["NW-0001"]
    first = Terminal.objects.get(asset_tag="NW-0001")
    assert first.custodian == contractor_org
    assert first.notes == "予備機", "the other columns are as they were"
    updated = AuditEvent.objects.filter(action="terminal.updated")
    assert list(updated.values_list("object_id", "actor_username")) == [(str(first.pk), "fiona")]
    (changed_field,) = updated.get().details
    assert changed_field.startswith("custodian")
    assert Terminal.objects.get(asset_tag="NW-0003").status == Terminal.Status.IN_STORAGE


def test_full_width_and_lower_case_tags_in_the_file_match_the_terminals_they_name(
    facilities, two_terminals
):
    text = export_of(*two_terminals)
    text = text.replace("NW-0001", "ＮＷ－０００１").replace("NW-0002", "nw-0002")

    preview = csv_io.preview_terminals_csv(actor=facilities, data=text.encode())

    assert [(row.asset_tag, row.outcome) for row in preview.rows] == [
        ("NW-0001", csv_io.UNCHANGED),
        ("NW-0002", csv_io.UNCHANGED),
    ]
    assert Terminal.objects.count() == 2


def test_a_bad_row_refuses_the_whole_file_and_nothing_is_written(facilities, two_terminals):
    text = with_cell(export_of(*two_terminals), "NW-0001", "notes", "changed")
    text = with_cell(text, "NW-0002", "custodian", "nobody")
    data = text.encode()
    preview = csv_io.preview_terminals_csv(actor=facilities, data=data)

    with nothing_written(*two_terminals), pytest.raises(CsvImportError) as caught:
        csv_io.apply_terminals_csv(actor=facilities, data=data, token=preview.token)

    assert not preview.can_apply
    assert [row.outcome for row in preview.rows] == [csv_io.UPDATE, csv_io.ERROR]
    assert rows_and_fields(caught.value.errors) == [(3, "custodian")]


def test_a_location_or_status_that_differs_is_an_error_pointing_to_the_move_and_status_pages(
    facilities, two_terminals, second_cabinet
):
    first, second = two_terminals
    services.terminal_reserve(terminal=second, actor=None)
    text = export_of(first, second)
    text = with_cell(text, "NW-0001", "location", second_cabinet.code)
    text = with_cell(text, "NW-0002", "status", "in_storage")

    with translation.override("en"):
        preview = csv_io.preview_terminals_csv(actor=facilities, data=text.encode())

    assert rows_and_fields(preview.errors) == [(2, "location"), (3, "status")]
    assert "move page" in preview.errors[0].message
    assert "only through its loan" in preview.errors[1].message


def test_apply_is_refused_when_the_inventory_changed_since_the_preview(facilities, two_terminals):
    data = with_cell(export_of(*two_terminals), "NW-0001", "notes", "from the file").encode()
    preview = csv_io.preview_terminals_csv(actor=facilities, data=data)
    first = services.terminal_update(
        terminal=two_terminals[0],
        actor=None,
        serial_number=two_terminals[0].serial_number,
        hostname="nwpc-1",
        model_name="ThinkPad L14",
        custodian=two_terminals[0].custodian,
        notes="edited on the page meanwhile",
    )

    with nothing_written(first), pytest.raises(csv_io.ImportPreviewOutdated) as caught:
        csv_io.apply_terminals_csv(actor=facilities, data=data, token=preview.token)

    (change,) = caught.value.preview.rows[0].changes
    assert change == csv_io.FieldChange("notes", "edited on the page meanwhile", "from the file")


def test_apply_is_refused_for_a_file_other_than_the_one_previewed(facilities, two_terminals):
    previewed = with_cell(export_of(*two_terminals), "NW-0001", "notes", "a").encode()
    other = with_cell(export_of(*two_terminals), "NW-0001", "notes", "b").encode()
    preview = csv_io.preview_terminals_csv(actor=facilities, data=previewed)

    with nothing_written(*two_terminals), pytest.raises(csv_io.ImportPreviewOutdated):
        csv_io.apply_terminals_csv(actor=facilities, data=other, token=preview.token)


def test_line_ends_and_upper_case_hostnames_are_not_changes(facilities, cabinet):
    terminal = make_terminal(location=cabinet, asset_tag="NW-0009", notes="一行目\r\n二行目")
    text = export_of(terminal).replace("\r\n", "\n").replace(terminal.hostname, "NWPC-X")
    Terminal.objects.filter(pk=terminal.pk).update(hostname="nwpc-x")

    preview = csv_io.preview_terminals_csv(actor=facilities, data=text.encode())

    assert [row.outcome for row in preview.rows] == [csv_io.UNCHANGED]


# Locations ------------------------------------------------------------------------------------


def test_locations_import_with_parents_earlier_in_the_file(facilities, operator, site):
    data = (
        "code,name,kind,parent,custodian,secured,address\n"
        "kita,北支社,site,,tepco-pg,no,札幌市北区\n"
        "kita-b1,本館,building,kita,,yes,\n"
        "kita-b1-2f,2F,floor,kita-b1,,1,\n"
        "hq-annex,別館,BUILDING,hq,,TRUE,\n"
    ).encode()

    created = import_locations_csv(actor=facilities, data=data)

    assert [loc.code for loc in created] == ["kita", "kita-b1", "kita-b1-2f", "hq-annex"]
    kita, building, floor, annex = created
    assert floor.parent == building and building.parent == kita
    assert floor.site == kita and annex.site == site
    assert floor.path == f"/{kita.pk:08d}/{building.pk:08d}/{floor.pk:08d}/"
    assert floor.custodian == operator, "custodian defaults to the parent's"
    assert (kita.secured, building.secured, floor.secured, annex.secured) == (
        False,
        True,
        True,
        True,
    )
    assert kita.address == "札幌市北区"
    assert AuditEvent.objects.filter(action="location.created", actor_username="fiona").count() == 4


def test_locations_with_bad_nesting_kind_or_parent_are_refused_row_by_row(facilities, site):
    errors = refused(
        import_locations_csv,
        facilities,
        "code,name,kind,parent,custodian,secured\n"
        "b1,Building,building,hq,,\n"  # fine
        "f1,Floor,floor,,tepco-pg,\n"  # no parent
        "b2,Building,building,f9,,\n"  # parent comes later
        "f9,Floor,floor,b1,,\n"  # fine
        "x1,Thing,shed,hq,,\n"  # unknown kind
        "b3,Building,building,f9,,\n"  # a building inside a floor
        "s2,Site,site,,,\n"  # a site needs a custodian
        "b1,Again,building,hq,,maybe\n",  # code twice, bad flag
    )

    assert rows_and_fields(errors) == [
        (3, "parent"),
        (4, "parent"),
        (6, "kind"),
        (7, "parent"),
        (8, "custodian"),
        (9, "code"),
        (9, "secured"),
    ]


def test_a_location_code_already_in_the_inventory_is_refused(facilities, site):
    errors = refused(
        import_locations_csv, facilities, "code,name,kind,custodian\nhq,Head office,site,tepco-pg\n"
    )

    assert rows_and_fields(errors) == [(2, "code")]


# The command ----------------------------------------------------------------------------------


def test_the_command_imports_a_file_and_prints_the_count(facilities, cabinet, tmp_path, capsys):
    path = tmp_path / "terminals.csv"
    path.write_bytes(b"asset_tag,location\nNW-1,hq-cab-1\nNW-2,hq-cab-1\n")

    with translation.override("en"):
        call_command("import_csv", "terminals", str(path), "--as", "fiona")

    assert "Imported 2 terminals." in capsys.readouterr().out
    assert set(
        AuditEvent.objects.filter(action="terminal.created").values_list(
            "actor_username", flat=True
        )
    ) == {"fiona"}


def test_the_command_lists_each_bad_row_and_exits_1(facilities, cabinet, tmp_path, capsys):
    path = tmp_path / "terminals.csv"
    path.write_bytes(b"asset_tag,location\nNW-1,nowhere\nNW-2,hq-cab-1\nNW-2,hq-cab-1\n")
    before = counts()

    with translation.override("en"), pytest.raises(CommandError) as caught:
        call_command("import_csv", "terminals", str(path))

    assert caught.value.returncode == 1
    stderr = capsys.readouterr().err.splitlines()
    assert stderr[0].startswith("row 2, location: ")
    assert stderr[1].startswith("row 4, asset_tag: ")
    assert counts() == before


def test_the_command_imports_locations(facilities, site, tmp_path, capsys):
    path = tmp_path / "locations.csv"
    path.write_bytes(b"code,name,kind,parent\nhq-b9,Annex,building,hq\n")

    call_command("import_csv", "locations", str(path))

    assert Location.objects.get(code="hq-b9").parent == site
    assert AuditEvent.objects.filter(action="location.created", actor_username="system").exists()


def test_the_command_refuses_an_unknown_user(cabinet, tmp_path):
    path = tmp_path / "terminals.csv"
    path.write_bytes(b"asset_tag,location\nNW-1,hq-cab-1\n")

    with nothing_written(), pytest.raises(CommandError):
        call_command("import_csv", "terminals", str(path), "--as", "nobody")


def test_the_error_lists_every_row_for_pages_that_show_field_errors(facilities, cabinet):
    with nothing_written(), translation.override("en"), pytest.raises(CsvImportError) as caught:
        csv_io.import_terminals_csv(actor=facilities, data=b"asset_tag,location\nNW-1,nowhere\n")

    assert caught.value.field_errors == {"file": [str(caught.value.errors[0])]}
    assert str(caught.value.errors[0]).startswith("row 2, location: Unknown location code")
