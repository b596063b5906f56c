from core.models import AuditEvent
from terminals import services
from terminals.models import Terminal
from tests.factories import make_location, make_terminal
from tests.support.db import nothing_written

TERMINALS = "/api/v1/terminals/"


def _tags(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["asset_tag"] for row in response.json()["results"]]


def test_facilities_staff_register_a_terminal_by_location_and_custodian_code(
    api_as, facilities, cabinet
):
    response = api_as(facilities).post(
        TERMINALS,
        {
            "asset_tag": "NW-10001",
            "serial_number": "PF3ABC12",
            "hostname": "nwpc-0101",
            "model_name": "ThinkPad L14",
            "location": "hq-cab-1",
            "custodian": "tepco-pg",
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["asset_tag"] == "NW-10001"
    assert body["status"] == "in_storage"
    assert body["location"] == "hq-cab-1"
    assert body["location_name"] == "保管庫1"
    assert body["site"] == "hq"
    assert body["custodian"] == "tepco-pg"
    assert body["storage_warnings"] == []
    event = AuditEvent.objects.get(action="terminal.created")
    assert event.actor == facilities
    assert event.details["asset_tag"] == "NW-10001"


def test_a_terminal_outside_secured_storage_comes_with_its_warnings(api_as, facilities, open_room):
    response = api_as(facilities).post(
        TERMINALS,
        {"asset_tag": "NW-10002", "location": "hq-b2-lobby", "custodian": "tepco-pg"},
        format="json",
    )

    assert response.status_code == 201
    warnings = response.json()["storage_warnings"]
    assert len(warnings) == 1
    assert all(isinstance(text, str) and text for text in warnings)


def test_a_duplicate_asset_tag_is_refused_with_a_message_on_the_tag(api_as, facilities, terminal):
    response = api_as(facilities).post(
        TERMINALS,
        {"asset_tag": terminal.asset_tag, "location": "hq-cab-1", "custodian": "tepco-pg"},
        format="json",
    )

    assert response.status_code == 400
    assert terminal.asset_tag in response.json()["asset_tag"][0]
    assert Terminal.objects.count() == 1
    assert not AuditEvent.objects.filter(actor=facilities).exists()


def test_an_unknown_location_code_is_refused_with_a_message_naming_it(api_as, facilities, cabinet):
    with nothing_written():
        response = api_as(facilities).post(
            TERMINALS,
            {"asset_tag": "NW-10003", "location": "nowhere-7", "custodian": "no-such-org"},
            format="json",
        )

    assert response.status_code == 400
    body = response.json()
    assert "nowhere-7" in body["location"][0]
    assert "no-such-org" in body["custodian"][0]


def test_the_search_matches_tag_serial_and_hostname(api_as, security, cabinet):
    make_terminal(location=cabinet, asset_tag="NW-ALPHA", serial_number="S-1", hostname="h-1")
    make_terminal(location=cabinet, asset_tag="NW-2", serial_number="SN-ALPHA-9", hostname="h-2")
    make_terminal(location=cabinet, asset_tag="NW-3", serial_number="S-3", hostname="alpha-pc")
    make_terminal(location=cabinet, asset_tag="NW-4", serial_number="S-4", hostname="beta-pc")

    tags = _tags(api_as(security).get(TERMINALS, {"q": "alpha"}))

    assert sorted(tags) == ["NW-2", "NW-3", "NW-ALPHA"]


def test_the_status_filter_takes_several_statuses(api_as, auditor, cabinet):
    stored = make_terminal(location=cabinet)
    in_repair = make_terminal(location=cabinet)
    lost = make_terminal(location=cabinet)
    services.terminal_send_to_maintenance(terminal=in_repair, actor=None, reason="画面割れ")
    services.terminal_mark_lost(terminal=lost, actor=None, reason="所在不明")

    tags = _tags(api_as(auditor).get(TERMINALS, {"status": ["maintenance", "lost"]}))

    assert sorted(tags) == sorted([in_repair.asset_tag, lost.asset_tag])
    assert stored.asset_tag not in tags


def test_the_site_filter_takes_a_site_code(api_as, auditor, cabinet, operator):
    branch = make_location(code="branch", name="支社", custodian=operator)
    at_hq = make_terminal(location=cabinet)
    at_branch = make_terminal(location=branch)

    assert _tags(api_as(auditor).get(TERMINALS, {"site": "branch"})) == [at_branch.asset_tag]
    assert _tags(api_as(auditor).get(TERMINALS, {"site": "hq"})) == [at_hq.asset_tag]


def test_the_location_filter_includes_everything_inside_the_location(
    api_as, auditor, cabinet, open_room
):
    in_cabinet = make_terminal(location=cabinet)
    in_lobby = make_terminal(location=open_room)

    # The room on 3F holds the cabinet; the lobby is in another building.
    tags = _tags(api_as(auditor).get(TERMINALS, {"location": "hq-b1-3f-sec"}))

    assert tags == [in_cabinet.asset_tag]
    assert in_lobby.asset_tag not in tags


def test_an_unknown_site_code_in_a_filter_answers_400(api_as, auditor, cabinet):
    response = api_as(auditor).get(TERMINALS, {"site": "atlantis"})
    assert response.status_code == 400
    assert "site" in response.json()


def test_the_list_can_be_sorted(api_as, auditor, cabinet):
    for tag in ("NW-B", "NW-C", "NW-A"):
        make_terminal(location=cabinet, asset_tag=tag)
    client = api_as(auditor)

    assert _tags(client.get(TERMINALS)) == ["NW-A", "NW-B", "NW-C"]
    assert _tags(client.get(TERMINALS, {"ordering": "-asset_tag"})) == ["NW-C", "NW-B", "NW-A"]


def test_a_tag_with_dots_and_spaces_is_found_by_its_tag(api_as, auditor, cabinet):
    make_terminal(location=cabinet, asset_tag="NW 2024.001")

    response = api_as(auditor).get(f"{TERMINALS}NW%202024.001/")

    assert response.status_code == 200
    assert response.json()["asset_tag"] == "NW 2024.001"


def test_moving_a_terminal_grows_its_history_and_writes_an_event(
    api_as, facilities, terminal, site
):
    response = api_as(facilities).post(
        f"{TERMINALS}{terminal.asset_tag}/move/",
        {"to_location": "hq", "reason": "棚卸し前の移動"},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["location"] == "hq"
    assert terminal.movements.count() == 2
    event = AuditEvent.objects.get(action="terminal.moved")
    assert event.details["from_location"] == "hq-cab-1"
    assert event.details["to_location"] == "hq"


def test_moving_a_terminal_to_where_it_is_answers_400_on_the_destination(
    api_as, facilities, terminal
):
    with nothing_written(terminal):
        response = api_as(facilities).post(
            f"{TERMINALS}{terminal.asset_tag}/move/", {"to_location": "hq-cab-1"}, format="json"
        )

    assert response.status_code == 400
    assert "to_location" in response.json()


def test_a_retired_terminal_cannot_go_to_maintenance_and_nothing_is_written(
    api_as, facilities, terminal
):
    services.terminal_retire(terminal=terminal, actor=None, reason="耐用年数超過")
    events_before = AuditEvent.objects.count()
    movements_before = terminal.movements.count()

    response = api_as(facilities).post(
        f"{TERMINALS}{terminal.asset_tag}/maintenance/", {"reason": "点検"}, format="json"
    )

    assert response.status_code == 409
    reasons = response.json()["reasons"]
    assert isinstance(reasons, list)
    assert reasons
    terminal.refresh_from_db()
    assert terminal.status == Terminal.Status.RETIRED
    assert AuditEvent.objects.count() == events_before
    assert terminal.movements.count() == movements_before


def test_marking_a_terminal_lost_needs_a_reason(api_as, facilities, terminal):
    with nothing_written(terminal):
        response = api_as(facilities).post(
            f"{TERMINALS}{terminal.asset_tag}/lost/", {}, format="json"
        )

    assert response.status_code == 400
    assert "reason" in response.json()
    terminal.refresh_from_db()
    assert terminal.status == Terminal.Status.IN_STORAGE


def test_a_terminal_back_from_maintenance_is_stored_where_staff_say(
    api_as, facilities, terminal, site
):
    client = api_as(facilities)
    client.post(f"{TERMINALS}{terminal.asset_tag}/maintenance/", {"reason": "キーボード故障"})

    response = client.post(
        f"{TERMINALS}{terminal.asset_tag}/store/", {"to_location": "hq"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "in_storage"
    assert response.json()["location"] == "hq"


def test_the_history_lists_movements_newest_first(api_as, facilities, auditor, terminal, site):
    staff = api_as(facilities)
    staff.post(f"{TERMINALS}{terminal.asset_tag}/move/", {"to_location": "hq"}, format="json")
    staff.post(
        f"{TERMINALS}{terminal.asset_tag}/retire/", {"reason": "耐用年数超過"}, format="json"
    )

    response = api_as(auditor).get(f"{TERMINALS}{terminal.asset_tag}/history/")

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [(row["from_status"], row["to_status"]) for row in rows] == [
        ("in_storage", "retired"),
        ("in_storage", "in_storage"),
        ("", "in_storage"),
    ]
    assert [row["to_location"] for row in rows] == ["hq", "hq", "hq-cab-1"]
    assert [row["from_location"] for row in rows] == ["hq", "hq-cab-1", None]
    assert rows[0]["actor"] == "fiona"
    assert rows[0]["reason"] == "耐用年数超過"
    assert rows[2]["actor"] is None


def test_staff_correct_a_terminals_description_but_not_its_place(api_as, facilities, terminal):
    response = api_as(facilities).patch(
        f"{TERMINALS}{terminal.asset_tag}/",
        {"hostname": "nwpc-renamed", "location": "hq"},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["hostname"] == "nwpc-renamed"
    assert response.json()["location"] == "hq-cab-1"
    assert AuditEvent.objects.get(action="terminal.updated").details["hostname"] == [
        terminal.hostname,
        "nwpc-renamed",
    ]
