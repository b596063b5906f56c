"""Check-out through the API: every reason a terminal is refused answers 409 with that reason,
and a refused check-out changes nothing."""

import pytest
from django.utils import timezone

from credentials.models import RotationReason, SecretVersion
from credentials.rotation import rotation_fail, rotation_request
from lending import services
from lending.models import Loan
from terminals import services as inventory
from terminals.models import AccessCard, Terminal
from tests.factories import make_location, make_terminal
from tests.lending.api.helpers import checkout, checkout_body, submit, with_accounts
from tests.support.db import nothing_written


def refused(client, body) -> list[str]:
    """Post a check-out that must be refused; nothing is written, every terminal and card stays
    where it was."""
    with nothing_written(Terminal, AccessCard, Loan):
        response = client.post("/api/v1/loans/", body, format="json")
    assert response.status_code == 409, response.content
    return response.json()["reasons"]


def test_a_terminal_not_in_storage_is_refused(client_for, facilities, approved, terminals):
    inventory.terminal_send_to_maintenance(terminal=terminals[0], actor=None, reason="点検")

    reasons = refused(client_for(facilities), checkout_body(approved, terminals[0]))

    assert reasons == ["Terminal NW-00001 is not in storage (it is Maintenance)."]


def test_a_terminal_whose_password_was_revealed_is_refused(
    client_for, facilities, approved, terminals
):
    account = terminals[0].accounts.get(target_system__code="nol")
    SecretVersion.objects.filter(pk=account.current_version_id).update(revealed_at=timezone.now())

    reasons = refused(client_for(facilities), checkout_body(approved, terminals[0]))

    assert len(reasons) == 1
    assert "its password was revealed and must be rotated first" in reasons[0]
    assert account.login_id in reasons[0]


def test_a_terminal_with_a_rotation_pending_is_refused(client_for, facilities, approved, terminals):
    account = terminals[0].accounts.get(target_system__code="callcenter")
    # The worker has not run it yet (on-commit callbacks are not executed here).
    rotation_request(account=account, reason=RotationReason.FORCED, actor=None)

    reasons = refused(client_for(facilities), checkout_body(approved, terminals[0]))

    assert len(reasons) == 1
    assert "a rotation is pending" in reasons[0]


def test_a_terminal_whose_rotation_failed_is_refused(client_for, facilities, approved, terminals):
    account = terminals[0].accounts.get(target_system__code="callcenter")
    rotation = rotation_request(account=account, reason=RotationReason.FORCED, actor=None)
    rotation_fail(rotation_id=rotation.pk, error="target unreachable")

    reasons = refused(client_for(facilities), checkout_body(approved, terminals[0]))

    assert len(reasons) == 1
    assert "its last rotation failed" in reasons[0]


def test_a_terminal_is_refused_once_the_declaration_is_lifted(
    client_for, facilities, security, approved, terminals
):
    services.declaration_lift(declaration=approved.declaration, actor=security)

    reasons = refused(client_for(facilities), checkout_body(approved, terminals[0]))

    assert reasons == ["The declaration “台風10号” is not active."]


def test_a_terminal_is_refused_when_the_request_has_all_it_asked_for(
    client_for, facilities, approver, contractor, declaration, terminals
):
    request = submit(contractor, declaration, quantity=1)
    request = services.access_request_approve(request=request, actor=approver)
    client = client_for(facilities)
    assert client.post("/api/v1/loans/", checkout_body(request, terminals[0])).status_code == 201

    reasons = refused(client, checkout_body(request, terminals[1]))

    assert reasons == [f"Request #{request.pk} already has its 1 terminals."]
    assert Terminal.objects.get(pk=terminals[1].pk).status == Terminal.Status.IN_STORAGE


def test_a_terminal_kept_outside_the_declared_area_is_refused(
    client_for, facilities, approved, operator, targets, django_capture_on_commit_callbacks
):
    elsewhere = make_location(code="tama", name="多摩支社", custodian=operator)
    terminal = with_accounts(
        make_terminal(location=elsewhere, asset_tag="NW-00900"),
        targets,
        django_capture_on_commit_callbacks,
    )

    reasons = refused(client_for(facilities), checkout_body(approved, terminal))

    assert reasons == ["Terminal NW-00900 is kept at a site outside the declaration's area."]


def test_the_approver_may_not_hand_out_the_terminals_of_their_own_approval(
    client_for, approver, approved, terminals
):
    reasons = refused(client_for(approver), checkout_body(approved, terminals[0]))

    assert reasons == ["You approved this request, so someone else must hand out its terminals."]


def test_without_separation_of_duties_the_approver_may_hand_out(
    client_for, approver, approved, terminals, settings
):
    settings.LENDING_SEPARATION_OF_DUTIES = False

    response = client_for(approver).post(
        "/api/v1/loans/", checkout_body(approved, terminals[0]), format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["handed_out_by"] == "aki"


def test_every_reason_is_given_at_once(client_for, approver, security, approved, terminals):
    inventory.terminal_send_to_maintenance(terminal=terminals[0], actor=None, reason="点検")
    services.declaration_lift(declaration=approved.declaration, actor=security)

    reasons = refused(client_for(approver), checkout_body(approved, terminals[0]))

    assert len(reasons) == 3


@pytest.mark.parametrize(
    ("field", "value"),
    [("terminal", "NW-99999"), ("request", 999999), ("operator_name", " "), ("cards", ["IC-X"])],
)
def test_bad_check_out_input_answers_400_on_its_field(
    client_for, facilities, approved, terminals, field, value
):
    body = {**checkout_body(approved, terminals[0]), field: value}

    with nothing_written(terminals[0], approved):
        response = client_for(facilities).post("/api/v1/loans/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()


def test_a_check_out_with_named_cards_lends_only_those(
    client_for, facilities, approved, terminals, card
):
    body = checkout_body(approved, terminals[0], cards=[])

    response = client_for(facilities).post("/api/v1/loans/", body, format="json")

    assert response.status_code == 201
    assert response.json()["cards"] == []
    card.refresh_from_db()
    assert card.status == card.Status.IN_STORAGE


def test_a_revoked_loan_stays_open_and_its_credentials_are_no_longer_shown(
    client_for,
    facilities,
    security,
    contractor,
    approved,
    terminals,
    django_capture_on_commit_callbacks,
):
    loan = checkout(approved, terminals[0], facilities)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(security).post(
            f"/api/v1/loans/{loan.pk}/revoke/", {"reason": "端末盗難の届出"}, format="json"
        )
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["revoked_by"]) == ("open", "sam")

    with nothing_written(loan, SecretVersion):
        reveal = client_for(contractor).post(f"/api/v1/loans/{loan.pk}/reveal/")

    assert reveal.status_code == 409
    assert "password" not in reveal.json()


@pytest.mark.parametrize("action", ["revoke", "lost"])
def test_revoking_or_losing_a_loan_needs_a_reason(
    client_for, facilities, security, approved, terminals, action
):
    loan = checkout(approved, terminals[0], facilities)

    with nothing_written(loan, loan.terminal):
        response = client_for(security).post(f"/api/v1/loans/{loan.pk}/{action}/", {"reason": " "})

    assert response.status_code == 400
    assert response.json()["reason"] == ["A reason is required."]


def test_a_lost_loan_marks_the_terminal_lost(
    client_for, facilities, security, approved, terminals, django_capture_on_commit_callbacks
):
    loan = checkout(approved, terminals[0], facilities)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(security).post(
            f"/api/v1/loans/{loan.pk}/lost/", {"reason": "現場で紛失"}, format="json"
        )

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "lost"
    assert Terminal.objects.get(pk=terminals[0].pk).status == Terminal.Status.LOST


def test_a_terminal_with_no_account_is_refused(client_for, facilities, approved, cabinet):
    """Issue 9, item 5: the contractor's reveal page would have shown nothing."""
    bare = make_terminal(location=cabinet, asset_tag="NW-00009")

    reasons = refused(client_for(facilities), checkout_body(approved, bare))

    assert reasons == [
        "Terminal NW-00009 has no account to sign in with: add one before lending it."
    ]


def test_a_tag_typed_in_lower_case_or_full_width_is_the_terminal(
    client_for, facilities, approved, terminals
):
    """Issue 9, item 3: `nw-0001` was "not registered" at the counter."""
    client = client_for(facilities)
    first = client.post(
        "/api/v1/loans/",
        {**checkout_body(approved, terminals[0]), "terminal": "nw-00001"},
        format="json",
    )
    second = client.post(
        "/api/v1/loans/",
        {**checkout_body(approved, terminals[1]), "terminal": "ＮＷ－００００２"},
        format="json",
    )
    assert (first.status_code, second.status_code) == (201, 201), first.content
    assert [first.json()["terminal"], second.json()["terminal"]] == ["NW-00001", "NW-00002"]
