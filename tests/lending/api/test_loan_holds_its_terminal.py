"""A reserved or lent terminal changes state only through its loan (issue 9, item 11): the
inventory's own transitions refuse it with the loan named, write nothing, and the loan can still
be returned."""

import pytest

from core.errors import RuleViolation
from lending.models import LoanStatus
from terminals import services as inventory
from terminals.models import Terminal
from tests.lending.api.helpers import checkout
from tests.support.db import nothing_written

RETURN = {
    "condition": "ok",
    "cards_returned": [],
    "return_location": "hq-cab-1",
    "handed_back_by": "山田 太郎",
    "operator_signature": "山田 太郎",
    "data_disposition": "destroyed",
}


@pytest.mark.parametrize("action", ["maintenance", "lost", "retire"])
def test_the_inventory_cannot_change_a_lent_terminal(
    client_for, facilities, approved, terminals, action
):
    loan = checkout(approved, terminals[0], facilities)
    client = client_for(facilities)

    with nothing_written(loan.terminal, loan):
        response = client.post(
            f"/api/v1/terminals/{loan.terminal.asset_tag}/{action}/",
            {"reason": "画面割れ"},
            format="json",
        )

    assert response.status_code == 409, response.content
    assert response.json()["reasons"] == [
        f"It is on loan #{loan.pk} to 関東電工: it changes state only through its loan "
        "(return, lost, revocation)."
    ]
    # The loan goes on as if nothing happened: it is returned as usual.
    returned = client.post(f"/api/v1/loans/{loan.pk}/return/", RETURN, format="json")
    assert returned.status_code == 200, returned.content
    loan.refresh_from_db()
    assert loan.status == LoanStatus.RETURNED


def test_a_terminal_reserved_by_a_check_out_in_progress_is_held_too(
    facilities, approved, terminals
):
    terminal = inventory.terminal_reserve(terminal=terminals[1], actor=facilities)
    approved.loans.create(
        terminal=terminal,
        status=LoanStatus.CHECKING_OUT,
        work_site="現場",
        operator_name="山田 太郎",
        handed_out_by=facilities,
        checked_out_at=terminal.updated_at,
        due_at=terminal.updated_at,
        acknowledgement_text="誓約",
        acknowledged_name="山田 太郎",
        acknowledged_at=terminal.updated_at,
    )
    with nothing_written(terminal), pytest.raises(RuleViolation):
        inventory.terminal_send_to_maintenance(terminal=terminal, actor=facilities, reason="点検")


def test_losing_the_loan_still_marks_its_terminal_lost(
    client_for, security, facilities, approved, terminals
):
    loan = checkout(approved, terminals[0], facilities)
    response = client_for(security).post(
        f"/api/v1/loans/{loan.pk}/lost/", {"reason": "紛失"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert Terminal.objects.get(pk=loan.terminal_id).status == Terminal.Status.LOST


def test_the_terminal_page_offers_no_status_change_while_it_is_lent(
    as_user, facilities, approved, terminals
):
    client = as_user(facilities)
    stored = client.get(f"/terminals/{terminals[1].asset_tag}/", HTTP_ACCEPT_LANGUAGE="en")
    assert f"/terminals/{terminals[1].asset_tag}/status/?to=" in stored.content.decode()

    loan = checkout(approved, terminals[0], facilities)
    page = client.get(f"/terminals/{loan.terminal.asset_tag}/", HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    assert f"/terminals/{loan.terminal.asset_tag}/status/?to=" not in page.content.decode()
