"""Every terminal and access-card transition: allowed ones record a movement and one event;
refused ones say why and write nothing."""

import pytest

from core.errors import InvalidInput, RuleViolation, TransitionNotAllowed
from core.models import AuditEvent
from terminals import services
from terminals.models import AccessCard, Location, Movement, Terminal
from tests.core.test_transitions import EXPECTED
from tests.factories import make_card, make_location, make_terminal
from tests.support.db import nothing_written

Status = Terminal.Status

# How to bring a new terminal (in storage) into each status, through the services only.
PATHS = {
    Status.IN_STORAGE: [],
    Status.RESERVED: [Status.RESERVED],
    Status.LENT: [Status.RESERVED, Status.LENT],
    Status.RETURNED: [Status.RESERVED, Status.LENT, Status.RETURNED],
    Status.MAINTENANCE: [Status.MAINTENANCE],
    Status.LOST: [Status.LOST],
    Status.RETIRED: [Status.RETIRED],
}


def go(terminal: Terminal, to_status: str, actor=None) -> Terminal:
    call = {
        Status.IN_STORAGE: lambda: services.terminal_return_to_storage(
            terminal=terminal, actor=actor
        ),
        Status.RESERVED: lambda: services.terminal_reserve(terminal=terminal, actor=actor),
        Status.LENT: lambda: services.terminal_lend(terminal=terminal, actor=actor),
        Status.RETURNED: lambda: services.terminal_mark_returned(
            terminal=terminal, actor=actor, to_location=terminal.location
        ),
        Status.MAINTENANCE: lambda: services.terminal_send_to_maintenance(
            terminal=terminal, actor=actor, reason="screen cracked"
        ),
        Status.LOST: lambda: services.terminal_mark_lost(
            terminal=terminal, actor=actor, reason="not found at stock-take"
        ),
        Status.RETIRED: lambda: services.terminal_retire(
            terminal=terminal, actor=actor, reason="end of life"
        ),
    }[to_status]
    return call()


def terminal_in(status: str, location) -> Terminal:
    terminal = make_terminal(location=location)
    for step in PATHS[status]:
        terminal = go(terminal, step)
    return terminal


ALL_PAIRS = [(old, new) for old in Status for new in Status if old != new]


@pytest.mark.parametrize(("old", "new"), ALL_PAIRS, ids=[f"{o}->{n}" for o, n in ALL_PAIRS])
def test_each_transition_is_allowed_or_refused_as_declared(cabinet, facilities, old, new):
    terminal = terminal_in(old, cabinet)
    events, movements = AuditEvent.objects.count(), Movement.objects.count()

    if new in EXPECTED[Terminal][old]:
        terminal = go(terminal, new, actor=facilities)
        terminal.refresh_from_db()
        assert terminal.status == new
        assert AuditEvent.objects.count() == events + 1
        event = AuditEvent.objects.last()
        assert event.action == f"terminal.{new}"
        assert event.actor == facilities
        assert event.details["from_status"] == old
        assert Movement.objects.count() == movements + 1
        movement = terminal.movements.first()
        assert (movement.from_status, movement.to_status, movement.actor) == (old, new, facilities)
    else:
        with pytest.raises(TransitionNotAllowed) as refused:
            go(terminal, new, actor=facilities)
        assert str(Status(old).label) in refused.value.message
        terminal.refresh_from_db()
        assert terminal.status == old
        assert AuditEvent.objects.count() == events
        assert Movement.objects.count() == movements


def test_creating_a_terminal_records_its_first_movement_and_one_event(cabinet, facilities):
    before = AuditEvent.objects.count()
    terminal = services.terminal_create(
        actor=facilities, asset_tag=" NW-1 ", location=cabinet, custodian=cabinet.custodian
    )
    assert terminal.asset_tag == "NW-1"
    assert AuditEvent.objects.count() == before + 1
    assert AuditEvent.objects.last().action == "terminal.created"
    assert terminal.movements.get().to_location == cabinet


def test_it_refuses_a_duplicate_asset_tag_naming_the_field(cabinet):
    make_terminal(location=cabinet, asset_tag="NW-7")
    before = AuditEvent.objects.count()
    with pytest.raises(InvalidInput) as refused:
        make_terminal(location=cabinet, asset_tag="NW-7")
    assert "NW-7" in refused.value.field_errors["asset_tag"][0]
    assert AuditEvent.objects.count() == before
    assert Terminal.objects.filter(asset_tag="NW-7").count() == 1


def test_moving_a_terminal_records_from_and_to(cabinet, open_room, facilities):
    terminal = make_terminal(location=cabinet)
    services.terminal_move(
        terminal=terminal, actor=facilities, to_location=open_room, reason="desk"
    )
    terminal.refresh_from_db()
    assert terminal.location == open_room
    movement = terminal.movements.first()
    assert (movement.from_location, movement.to_location) == (cabinet, open_room)
    assert AuditEvent.objects.last().details["to_location"] == open_room.code


def test_moving_to_where_it_already_is_is_a_field_error(cabinet):
    terminal = make_terminal(location=cabinet)
    with nothing_written(terminal), pytest.raises(InvalidInput) as refused:
        services.terminal_move(terminal=terminal, actor=None, to_location=cabinet)
    assert "to_location" in refused.value.field_errors


@pytest.mark.parametrize("status", [Status.LENT, Status.RETIRED])
def test_a_lent_or_retired_terminal_cannot_be_moved(cabinet, open_room, status):
    terminal = terminal_in(status, cabinet)
    before = AuditEvent.objects.count()
    with pytest.raises(RuleViolation):
        services.terminal_move(terminal=terminal, actor=None, to_location=open_room)
    terminal.refresh_from_db()
    assert terminal.location == cabinet
    assert AuditEvent.objects.count() == before


def test_editing_descriptive_fields_writes_the_changes_and_nothing_when_unchanged(
    cabinet, facilities
):
    terminal = make_terminal(location=cabinet, hostname="old-name")
    kwargs = dict(
        terminal=terminal,
        actor=facilities,
        serial_number=terminal.serial_number,
        hostname="new-name",
        model_name=terminal.model_name,
        custodian=terminal.custodian,
        notes="",
    )
    services.terminal_update(**kwargs)
    assert AuditEvent.objects.last().details == {"hostname": ["old-name", "new-name"]}
    before = AuditEvent.objects.count()
    services.terminal_update(**kwargs)
    assert AuditEvent.objects.count() == before


def test_the_storage_rule_warns_about_an_unsecured_location_until_the_terminal_is_lent(
    cabinet, open_room
):
    stored = make_terminal(location=cabinet)
    exposed = make_terminal(location=open_room)
    assert stored.storage_warnings() == []
    assert len(exposed.storage_warnings()) == 1
    exposed = terminal_in(Status.LENT, open_room)
    assert exposed.storage_warnings() == []


def test_the_storage_rule_warns_when_the_custodian_is_not_a_network_operator(cabinet):
    from tests.factories import OrganizationFactory

    retail = OrganizationFactory(code="retail-co", kind="retail")
    retail_room = make_location(kind="building", parent=cabinet.site, custodian=retail)
    terminal = make_terminal(location=retail_room)
    assert any("network operator" in str(w) for w in terminal.storage_warnings())


def test_locations_nest_site_building_floor_room_cabinet_levels_may_be_skipped(site):
    room = make_location(kind="room", parent=site)  # a small site with no buildings
    with nothing_written(Location):
        with pytest.raises(InvalidInput) as refused:
            make_location(kind="floor", parent=room)
        assert "parent" in refused.value.field_errors
        with pytest.raises(InvalidInput):
            make_location(kind="building", parent=None, custodian=site.custodian)
        with pytest.raises(InvalidInput):
            make_location(kind="site", parent=site)


def test_a_location_knows_its_site_and_path(cabinet, site):
    assert cabinet.site == site
    assert cabinet.path.startswith(site.path)
    assert cabinet.depth == 4


CARD_PATHS = {
    AccessCard.Status.IN_STORAGE: [],
    AccessCard.Status.LENT: [services.access_card_lend],
    AccessCard.Status.LOST: [services.access_card_mark_lost],
    AccessCard.Status.RETIRED: [services.access_card_retire],
}
CARD_CALLS = {
    AccessCard.Status.IN_STORAGE: services.access_card_return_to_storage,
    AccessCard.Status.LENT: services.access_card_lend,
    AccessCard.Status.LOST: services.access_card_mark_lost,
    AccessCard.Status.RETIRED: services.access_card_retire,
}
CARD_PAIRS = [(o, n) for o in AccessCard.Status for n in AccessCard.Status if o != n]


@pytest.mark.parametrize(("old", "new"), CARD_PAIRS, ids=[f"{o}->{n}" for o, n in CARD_PAIRS])
def test_each_access_card_transition_is_allowed_or_refused_as_declared(cabinet, old, new):
    card = make_card(location=cabinet)
    for step in CARD_PATHS[old]:
        card = step(card=card, actor=None, reason="setup")
    before = AuditEvent.objects.count()
    if new in EXPECTED[AccessCard][old]:
        card = CARD_CALLS[new](card=card, actor=None, reason="test")
        assert card.status == new
        assert AuditEvent.objects.count() == before + 1
        assert AuditEvent.objects.last().action == f"access_card.{new}"
    else:
        with pytest.raises(TransitionNotAllowed):
            CARD_CALLS[new](card=card, actor=None, reason="test")
        card.refresh_from_db()
        assert card.status == old
        assert AuditEvent.objects.count() == before


def test_a_lent_card_cannot_be_reassigned(cabinet):
    card = services.access_card_lend(card=make_card(location=cabinet), actor=None)
    with nothing_written(card), pytest.raises(RuleViolation):
        services.access_card_update(card=card, actor=None, location=None, terminal=None, notes="")
