from datetime import UTC, datetime

import pytest
import time_machine

from core.audit import seal_pending
from terminals import services
from tests.factories import make_terminal

EVENTS = "/api/v1/events/"


@pytest.fixture
def trail(facilities, security, cabinet, site):
    """Three days of inventory work, long before the locations were set up today."""
    with time_machine.travel(datetime(2020, 4, 1, 1, 0, tzinfo=UTC), tick=False):
        first = make_terminal(location=cabinet, asset_tag="NW-00101")
    with time_machine.travel(datetime(2020, 4, 2, 1, 0, tzinfo=UTC), tick=False):
        second = make_terminal(location=cabinet, asset_tag="NW-00102")
        services.terminal_move(terminal=first, actor=facilities, to_location=site, reason="移設")
    with time_machine.travel(datetime(2020, 4, 3, 1, 0, tzinfo=UTC), tick=False):
        services.terminal_mark_lost(terminal=second, actor=security, reason="所在不明")
    seal_pending()  # as beat's sealer would have long since (on PostgreSQL events wait for it)
    return first, second


def _actions(response) -> list[tuple[str, str]]:
    assert response.status_code == 200, response.content
    return [(row["action"], row["object_id"]) for row in response.json()["results"]]


def test_events_filter_by_object(api_as, security, trail):
    first, _second = trail

    actions = _actions(
        api_as(security).get(
            EVENTS, {"object_type": "terminals.terminal", "object_id": str(first.pk)}
        )
    )

    assert actions == [("terminal.moved", str(first.pk)), ("terminal.created", str(first.pk))]


def test_events_filter_by_actor(api_as, auditor, trail):
    _first, second = trail

    assert _actions(api_as(auditor).get(EVENTS, {"actor": "sam"})) == [
        ("terminal.lost", str(second.pk))
    ]


def test_events_filter_by_action(api_as, auditor, trail):
    first, second = trail

    assert _actions(api_as(auditor).get(EVENTS, {"action": "terminal.created"})) == [
        ("terminal.created", str(second.pk)),
        ("terminal.created", str(first.pk)),
    ]


def test_events_filter_by_time_window(api_as, auditor, trail):
    first, second = trail

    actions = _actions(
        api_as(auditor).get(
            EVENTS, {"since": "2020-04-02T00:00:00Z", "until": "2020-04-03T00:00:00Z"}
        )
    )

    assert actions == [("terminal.moved", str(first.pk)), ("terminal.created", str(second.pk))]


def test_each_event_shows_its_actor_and_chain_hashes(api_as, auditor, trail):
    rows = api_as(auditor).get(EVENTS, {"action": "terminal.lost"}).json()["results"]

    assert rows[0]["actor"] == "sam"
    assert rows[0]["details"]["reason"] == "所在不明"
    assert len(rows[0]["hash"]) == 64
