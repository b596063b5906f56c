"""Who may read and write each lending endpoint: role x endpoint x read/write. A permitted
write leaves its audit events; a refused one, and every read, writes nothing."""

import datetime

import pytest
from django.utils import timezone

from core.models import AuditEvent
from lending import services
from lending.models import AccessRequest, Declaration, Loan
from tests.lending.api.helpers import checkout, submit
from tests.support.db import nothing_written

_return = {
    "condition": "ok",
    "cards_returned": [],
    "return_location": "hq-cab-1",
    "handed_back_by": "山田 太郎",
    "operator_signature": "山田 太郎",
    "data_disposition": "destroyed",
}

# endpoint: (read path, write path or None, write body); ids come from the world below.
ENDPOINTS = {
    "declarations": (
        "/api/v1/declarations/",
        "/api/v1/declarations/",
        {"title": "地震", "sites": ["hq"]},
    ),
    "lift": ("/api/v1/declarations/{declaration}/", "/api/v1/declarations/{declaration}/lift/", {}),
    "close": ("/api/v1/declarations/{quiet}/", "/api/v1/declarations/{quiet}/close/", {}),
    "report": ("/api/v1/declarations/{declaration}/report/", None, None),
    "access-requests": ("/api/v1/access-requests/", "/api/v1/access-requests/", "new request"),
    "approve": (
        "/api/v1/access-requests/{submitted}/",
        "/api/v1/access-requests/{submitted}/approve/",
        {},
    ),
    "reject": (
        "/api/v1/access-requests/{submitted}/",
        "/api/v1/access-requests/{submitted}/reject/",
        {"reason": "作業区域外"},
    ),
    "cancel": (
        "/api/v1/access-requests/{submitted}/",
        "/api/v1/access-requests/{submitted}/cancel/",
        {},
    ),
    "loans": ("/api/v1/loans/", "/api/v1/loans/", "new loan"),
    "return": ("/api/v1/loans/{loan}/", "/api/v1/loans/{loan}/return/", _return),
    "reveal": ("/api/v1/loans/{loan}/", "/api/v1/loans/{loan}/reveal/", {}),
    "revoke": ("/api/v1/loans/{loan}/", "/api/v1/loans/{loan}/revoke/", {"reason": "盗難"}),
    "lost": ("/api/v1/loans/{loan}/", "/api/v1/loans/{loan}/lost/", {"reason": "紛失"}),
}


def _answers(read: dict, write: dict) -> dict[str, tuple[int, int | None]]:
    return {name: (read.get(name, 200), write.get(name, 403)) for name in ENDPOINTS}


# role: {endpoint: (read status, write status)}
EXPECTED = {
    "anonymous": {name: (401, 401) for name in ENDPOINTS},
    # A lifted declaration is out of a contractor's sight; the report shows every contractor.
    "contractor": _answers(
        {"close": 404, "report": 403}, {"access-requests": 201, "cancel": 200, "reveal": 200}
    ),
    "facilities": _answers(
        {}, {"approve": 200, "reject": 200, "cancel": 200, "loans": 201, "return": 200}
    ),
    "security": _answers(
        {}, {"declarations": 201, "lift": 200, "close": 200, "revoke": 200, "lost": 200}
    ),
    "auditor": _answers({}, {}),
}

CASES = [
    pytest.param(role, endpoint, kind, id=f"{role}-{endpoint}-{kind}")
    for role in EXPECTED
    for endpoint, (_read, write_path, _body) in ENDPOINTS.items()
    for kind in ("read", "write")
    if kind == "read" or write_path
]


@pytest.fixture
def world(approved, terminals, facilities, contractor, security, site):
    """An open loan of NW-00001 under the approved request (NW-00002 still free for it),
    a submitted request to decide, and a lifted declaration with nothing out, to close."""
    loan = checkout(approved, terminals[0], facilities)
    submitted = submit(contractor, approved.declaration, quantity=1)
    quiet = services.declaration_declare(actor=security, title="大雪", sites=[site])
    services.declaration_lift(declaration=quiet, actor=security)
    ids = {
        "declaration": approved.declaration_id,
        "quiet": quiet.pk,
        "submitted": submitted.pk,
        "loan": loan.pk,
    }
    bodies = {
        "new request": {
            "declaration": approved.declaration_id,
            "work_site": "館山市",
            "quantity": 1,
            "operators": ["鈴木 一郎"],
            "purpose": "復旧作業",
            "needed_until": (timezone.now() + datetime.timedelta(days=1)).isoformat(),
        },
        "new loan": {
            "request": approved.pk,
            "terminal": terminals[1].asset_tag,
            "operator_name": "佐藤 花子",
            "acknowledged_name": "佐藤 花子",
        },
    }
    return ids, bodies


@pytest.mark.parametrize(("role", "endpoint", "kind"), CASES)
def test_each_role_gets_the_expected_answer(request, client_for, world, role, endpoint, kind):
    ids, bodies = world
    read_path, write_path, body = ENDPOINTS[endpoint]
    expected_read, expected_write = EXPECTED[role][endpoint]
    client = client_for(None if role == "anonymous" else request.getfixturevalue(role))
    events = AuditEvent.objects.count()

    if kind == "read":
        response = client.get(read_path.format(**ids))
        assert response.status_code == expected_read, response.content
        assert AuditEvent.objects.count() == events
    else:
        path = write_path.format(**ids)
        data = bodies[body] if isinstance(body, str) else body
        if expected_write in (200, 201):
            response = client.post(path, data, format="json")
            assert response.status_code == expected_write, response.content
            assert AuditEvent.objects.count() > events
        else:
            with nothing_written(Declaration, AccessRequest, Loan):
                response = client.post(path, data, format="json")
            assert response.status_code == expected_write, response.content
