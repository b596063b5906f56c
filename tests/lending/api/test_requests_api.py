"""Declarations and access requests through the API: what a contractor may submit, deciding
and cancelling requests, and closing a declaration."""

import datetime

import pytest
from django.utils import timezone

from credentials.models import Rotation
from credentials.rotation import rotation_fail, rotation_force
from lending import services
from lending.models import Declaration
from tests.lending.api.helpers import checkout, submit
from tests.support.db import nothing_written


def request_body(declaration, **changes) -> dict:
    body = {
        "declaration": declaration.pk if declaration else None,
        "work_site": "千葉県館山市 配電復旧現場",
        "quantity": 2,
        "operators": ["山田 太郎"],
        "purpose": "停電復旧作業の顧客対応",
        "needed_until": (timezone.now() + datetime.timedelta(days=2)).isoformat(),
    }
    body.update(changes)
    return body


def rejected_on(client, body) -> dict:
    """Submit a request that must be refused: nothing is written; return the field errors."""
    with nothing_written():
        response = client.post("/api/v1/access-requests/", body, format="json")
    assert response.status_code == 400, response.content
    return response.json()


def test_a_contractor_submits_a_request_for_their_organization(client_for, contractor, declaration):
    response = client_for(contractor).post(
        "/api/v1/access-requests/",
        request_body(declaration, operators=[" 山田 太郎 ", "", "佐藤 花子"]),
        format="json",
    )

    assert response.status_code == 201, response.content
    answer = response.json()
    assert (answer["contractor"], answer["submitted_by"]) == ("kanto-denko", "carl")
    assert answer["operators"] == ["山田 太郎", "佐藤 花子"]
    assert answer["status"] == "submitted"


def test_a_request_needs_an_active_declaration(client_for, contractor, security, declaration):
    services.declaration_lift(declaration=declaration, actor=security)

    errors = rejected_on(client_for(contractor), request_body(declaration))

    assert errors["declaration"] == ["There is no active declaration to request terminals under."]


def test_a_request_without_a_declaration_names_the_field(client_for, contractor, db):
    errors = rejected_on(client_for(contractor), request_body(None))

    assert "declaration" in errors


@pytest.mark.parametrize("quantity", [0, 21])
def test_a_request_asks_for_a_number_of_terminals_in_range(
    client_for, contractor, declaration, quantity, settings
):
    settings.LENDING_MAX_QUANTITY = 20

    errors = rejected_on(client_for(contractor), request_body(declaration, quantity=quantity))

    assert errors["quantity"] == ["Ask for between 1 and 20 terminals."]


def test_a_request_may_not_outlast_the_declarations_lending_limit(
    client_for, contractor, security, site
):
    limit = timezone.now() + datetime.timedelta(days=1)
    declaration = services.declaration_declare(
        actor=security, title="地震", sites=[site], lending_limit=limit
    )
    needed_until = (limit + datetime.timedelta(hours=1)).isoformat()

    errors = rejected_on(
        client_for(contractor), request_body(declaration, needed_until=needed_until)
    )

    assert "lending limit" in errors["needed_until"][0]


@pytest.mark.parametrize("operators", [[], [" "]])
def test_a_request_names_at_least_one_operator(client_for, contractor, declaration, operators):
    errors = rejected_on(client_for(contractor), request_body(declaration, operators=operators))

    assert errors["operators"] == ["Name at least one operator who will use the terminals."]


def test_every_field_in_error_is_named_at_once(client_for, contractor, declaration):
    body = request_body(declaration, quantity=0, operators=[], work_site="", purpose="")

    errors = rejected_on(client_for(contractor), body)

    assert {"quantity", "operators", "work_site", "purpose"} <= set(errors)


def test_staff_do_not_submit_requests(client_for, facilities, declaration):
    with nothing_written():
        response = client_for(facilities).post(
            "/api/v1/access-requests/", request_body(declaration), format="json"
        )

    assert response.status_code == 403


def test_rejecting_needs_a_reason(client_for, facilities, contractor, declaration):
    request = submit(contractor, declaration)
    client = client_for(facilities)

    with nothing_written(request):
        response = client.post(f"/api/v1/access-requests/{request.pk}/reject/", {"reason": "  "})

    assert response.status_code == 400
    assert response.json()["reason"] == ["A reason is required."]

    response = client.post(
        f"/api/v1/access-requests/{request.pk}/reject/", {"reason": "作業区域外のため"}
    )
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["decision_reason"]) == (
        "rejected",
        "作業区域外のため",
    )


def test_a_decided_request_cannot_be_decided_again(client_for, facilities, approved):
    with nothing_written(approved):
        response = client_for(facilities).post(
            f"/api/v1/access-requests/{approved.pk}/reject/", {"reason": "重複"}
        )

    assert response.status_code == 409
    assert response.json()["reasons"]


def test_the_contractor_cancels_their_own_open_request(client_for, contractor, declaration):
    request = submit(contractor, declaration)

    response = client_for(contractor).post(f"/api/v1/access-requests/{request.pk}/cancel/")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"


def test_a_request_with_terminals_out_cannot_be_cancelled(
    client_for, contractor, facilities, approved, terminals
):
    loan = checkout(approved, terminals[0], facilities)

    with nothing_written(approved, loan):
        response = client_for(contractor).post(f"/api/v1/access-requests/{approved.pk}/cancel/")

    assert response.status_code == 409
    assert response.json()["reasons"] == ["Terminals of this request are out; return them first."]


def test_closing_is_refused_with_what_is_still_out(
    client_for, security, facilities, approved, terminals, card
):
    checkout(approved, terminals[0], facilities)
    client = client_for(security)
    assert client.post(f"/api/v1/declarations/{approved.declaration_id}/lift/").status_code == 200

    with nothing_written(Declaration):
        response = client.post(f"/api/v1/declarations/{approved.declaration_id}/close/")

    assert response.status_code == 409
    assert response.json()["reasons"] == [
        "Terminal NW-00001 is still lent.",
        "Access card IC-000001 is still lent.",
    ]
    assert client.get(f"/api/v1/declarations/{approved.declaration_id}/").json()["status"] == (
        "lifted"
    )


def test_an_active_declaration_must_be_lifted_before_it_is_closed(
    client_for, security, declaration
):
    with nothing_written(declaration):
        response = client_for(security).post(f"/api/v1/declarations/{declaration.pk}/close/")

    assert response.status_code == 409


def test_lifting_makes_open_loans_due_after_the_grace_period(
    client_for, security, facilities, approved, terminals
):
    loan = checkout(approved, terminals[0], facilities)
    before = timezone.now()

    response = client_for(security).post(
        f"/api/v1/declarations/{approved.declaration_id}/lift/", {"grace_hours": 2}
    )

    assert response.status_code == 200
    loan.refresh_from_db()
    assert before + datetime.timedelta(hours=2) <= loan.due_at
    assert loan.due_at <= timezone.now() + datetime.timedelta(hours=2)


def test_a_declaration_is_made_of_sites(client_for, security, cabinet):
    with nothing_written():
        response = client_for(security).post(
            "/api/v1/declarations/", {"title": "地震", "sites": ["hq-cab-1"]}, format="json"
        )

    assert response.status_code == 400
    assert response.json()["sites"] == ["The area is made of sites."]


def test_contractors_see_only_active_declarations(client_for, contractor, security, site):
    active = services.declaration_declare(actor=security, title="台風", sites=[site])
    lifted = services.declaration_declare(actor=security, title="地震", sites=[site])
    services.declaration_lift(declaration=lifted, actor=security)
    client = client_for(contractor)

    listed = client.get("/api/v1/declarations/").json()["results"]

    assert [d["id"] for d in listed] == [active.pk]
    assert client.get(f"/api/v1/declarations/{lifted.pk}/").status_code == 404
    assert len(client_for(security).get("/api/v1/declarations/").json()["results"]) == 2


def test_a_declaration_closes_once_a_failed_rotation_was_retried_successfully(
    client_for, security, facilities, approved, terminals, django_capture_on_commit_callbacks
):
    loan = checkout(approved, terminals[0], facilities)
    # The return's rotations are requested, but the target refuses until every retry is spent.
    services.loan_return(
        loan=loan,
        actor=facilities,
        condition="ok",
        cards_returned=[],
        return_location=terminals[0].location,
        handed_back_by="山田 太郎",
        operator_signature="山田 太郎",
        data_disposition="destroyed",
    )
    accounts = list(terminals[0].accounts.all())
    for rotation in Rotation.objects.filter(account__in=accounts, status="requested"):
        rotation_fail(rotation_id=rotation.pk, error="target unreachable")
    client = client_for(security)
    client.post(f"/api/v1/declarations/{approved.declaration_id}/lift/")
    with nothing_written(Declaration):
        refused = client.post(f"/api/v1/declarations/{approved.declaration_id}/close/")
    assert refused.status_code == 409
    assert sum("has not succeeded" in reason for reason in refused.json()["reasons"]) == 2

    with django_capture_on_commit_callbacks(execute=True):
        rotation_force(actor=security, accounts=accounts)
    assert services.returned_terminals_settle() == 1
    response = client.post(f"/api/v1/declarations/{approved.declaration_id}/close/")

    assert response.status_code == 200, response.content
