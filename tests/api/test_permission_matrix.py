"""Who may read and write each endpoint: role x endpoint x read/write, with the audit trail."""

import pytest
from django.contrib.auth.models import Permission

from core.models import AuditEvent
from terminals.models import AccessCard, Location, Terminal
from tests.factories import make_card, make_user
from tests.support.db import nothing_written

# endpoint: (read path, write method, write path, write body, status of a permitted write)
ENDPOINTS = {
    "organizations": (
        "/api/v1/organizations/",
        "post",
        "/api/v1/organizations/",
        {"code": "new-works", "name": "新工業", "kind": "contractor"},
        201,
    ),
    "locations": (
        "/api/v1/locations/",
        "post",
        "/api/v1/locations/",
        {
            "code": "hq-b9",
            "name": "新館",
            "kind": "building",
            "parent": "hq",
            "custodian": "tepco-pg",
        },
        201,
    ),
    "terminals": (
        "/api/v1/terminals/",
        "post",
        "/api/v1/terminals/",
        {"asset_tag": "NW-09999", "location": "hq-cab-1", "custodian": "tepco-pg"},
        201,
    ),
    # Reading the history, and writing to it by moving the terminal.
    "terminal history": (
        "/api/v1/terminals/NW-00001/history/",
        "post",
        "/api/v1/terminals/NW-00001/move/",
        {"to_location": "hq", "reason": "棚替え"},
        200,
    ),
    "access-cards": (
        "/api/v1/access-cards/",
        "post",
        "/api/v1/access-cards/",
        {"card_number": "IC-999999", "kind": "entry", "location": "hq-cab-1"},
        201,
    ),
    "events": ("/api/v1/events/", "post", "/api/v1/events/", {"action": "forged"}, None),
}

INVENTORY = ["organizations", "locations", "terminals", "terminal history", "access-cards"]

# role: {endpoint: (read status, write status)}
EXPECTED = {
    "anonymous": {name: (401, 401) for name in ENDPOINTS},
    "contractor": {name: (403, 403) for name in ENDPOINTS},
    "facilities": {
        **{name: (200, ENDPOINTS[name][4]) for name in INVENTORY},
        "events": (403, 403),
    },
    "security": {**{name: (200, 403) for name in INVENTORY}, "events": (200, 403)},
    "auditor": {**{name: (200, 403) for name in INVENTORY}, "events": (200, 403)},
}

CASES = [
    pytest.param(role, endpoint, kind, id=f"{role}-{endpoint}-{kind}")
    for role in EXPECTED
    for endpoint in ENDPOINTS
    for kind in ("read", "write")
]


@pytest.fixture
def client_for(request, api, terminal):
    def build(role: str):
        if role != "anonymous":
            api.force_login(request.getfixturevalue(role))
        return api

    return build


@pytest.mark.parametrize(("role", "endpoint", "kind"), CASES)
def test_each_role_gets_the_expected_answer(client_for, role, endpoint, kind):
    read_path, method, write_path, body, _ = ENDPOINTS[endpoint]
    expected_read, expected_write = EXPECTED[role][endpoint]
    client = client_for(role)
    events_before = AuditEvent.objects.count()

    if kind == "read":
        response = client.get(read_path)
        assert response.status_code == expected_read, response.content
        assert AuditEvent.objects.count() == events_before
    elif expected_write in (200, 201):
        response = getattr(client, method)(write_path, body, format="json")
        assert response.status_code == expected_write, response.content
        assert AuditEvent.objects.count() == events_before + 1
    else:
        with nothing_written(Terminal, Location, AccessCard):
            response = getattr(client, method)(write_path, body, format="json")
        assert response.status_code == expected_write, response.content


def test_a_refused_read_of_a_single_terminal_reveals_nothing(client_for, terminal):
    response = client_for("contractor").get(f"/api/v1/terminals/{terminal.asset_tag}/")
    assert response.status_code == 403
    assert terminal.asset_tag not in response.content.decode()


def _user_with(*codenames: str):
    user = make_user("pat", None)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="terminals", codename__in=codenames)
    )
    return user


def test_moving_a_terminal_needs_the_change_permission_not_the_add_permission(api, terminal):
    api.force_login(_user_with("view_terminal", "add_terminal"))
    with nothing_written(terminal):
        response = api.post(f"/api/v1/terminals/{terminal.asset_tag}/move/", {"to_location": "hq"})
    assert response.status_code == 403


def test_a_user_who_may_change_terminals_may_move_one(api, terminal):
    api.force_login(_user_with("view_terminal", "change_terminal"))
    response = api.post(f"/api/v1/terminals/{terminal.asset_tag}/move/", {"to_location": "hq"})
    assert response.status_code == 200
    assert response.json()["location"] == "hq"


def test_the_history_needs_the_view_permission(api, terminal):
    api.force_login(_user_with("change_terminal"))
    assert api.get(f"/api/v1/terminals/{terminal.asset_tag}/history/").status_code == 403


def test_retiring_an_access_card_needs_the_change_permission(api, cabinet):
    card = make_card(location=cabinet, card_number="IC-000001")
    api.force_login(_user_with("view_accesscard", "add_accesscard"))
    with nothing_written(card):
        response = api.post(f"/api/v1/access-cards/{card.card_number}/retire/", {"reason": "破損"})
    assert response.status_code == 403
