"""The terminal goes to one of the request's named operators, who signs for it (issue 9, item 4):
staff may add someone the request does not name, with a reason that is audited."""

from core.models import AuditEvent
from lending.models import Loan
from terminals.models import AccessCard, Terminal
from tests.lending.api.helpers import checkout_body
from tests.support.db import nothing_written


def test_an_operator_the_request_does_not_name_is_refused_on_the_field(
    client_for, facilities, approved, terminals
):
    body = checkout_body(
        approved, terminals[0], operator_name="鈴木 一郎", acknowledged_name="鈴木 一郎"
    )
    with nothing_written(Terminal, AccessCard, Loan, approved):
        response = client_for(facilities).post("/api/v1/loans/", body, format="json")
    assert response.status_code == 400
    assert "is not among the operators the request names" in response.json()["operator_name"][0]


def test_the_signature_must_be_the_receiving_operators(client_for, facilities, approved, terminals):
    body = checkout_body(approved, terminals[0], acknowledged_name="佐藤 花子")
    with nothing_written(Terminal, AccessCard, Loan):
        response = client_for(facilities).post("/api/v1/loans/", body, format="json")
    assert response.status_code == 400
    assert "山田 太郎" in response.json()["acknowledged_name"][0]


def test_a_signature_typed_without_the_space_or_in_full_width_is_the_same_person(
    client_for, facilities, approved, terminals
):
    body = checkout_body(
        approved, terminals[0], operator_name="山田太郎", acknowledged_name="山田　太郎"
    )
    response = client_for(facilities).post("/api/v1/loans/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["operator_name"] == "山田 太郎"  # as the request names them


def test_staff_add_an_operator_with_a_reason_which_is_audited(
    client_for, facilities, approved, terminals
):
    body = checkout_body(
        approved,
        terminals[0],
        operator_name="鈴木 一郎",
        acknowledged_name="鈴木 一郎",
        operator_reason="山田が負傷のため交代",
    )
    response = client_for(facilities).post("/api/v1/loans/", body, format="json")
    assert response.status_code == 201, response.content
    approved.refresh_from_db()
    assert approved.operators == ["山田 太郎", "佐藤 花子", "鈴木 一郎"]
    event = AuditEvent.objects.get(action="access_request.operator_added")
    assert event.details == {"operator": "鈴木 一郎", "reason": "山田が負傷のため交代"}
