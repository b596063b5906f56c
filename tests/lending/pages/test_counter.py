"""The counter check-out page: each scanned tag is handed out or refused with every reason,
progress counts against the request, and the operator's name and signature stay filled."""

import html

import pytest
from django.urls import reverse
from django.utils import timezone

from credentials.permissions import register_reveal_policy, unregister_reveal_policy
from credentials.reveal import secret_reveal
from credentials.rotation import rotation_fail, rotation_request
from lending import services
from lending.models import Loan, LoanStatus
from terminals import services as inventory
from terminals.models import AccessCard, Terminal
from tests.factories import make_location, make_terminal
from tests.lending.pages.conftest import submit, with_account
from tests.support.db import nothing_written

OPERATOR = "山田 太郎"
SIGNATURE = "山田太郎"


def scan(client, request, tag, **changes):
    data = {
        "request": request.pk,
        "operator_name": OPERATOR,
        "acknowledged_name": SIGNATURE,
        "tag": tag,
    }
    data.update(changes)
    response = client.post(reverse("lending:checkout"), data)
    assert response.status_code == 200
    return response.content.decode()


def refused_scan(client, request, tag, **changes):
    """A scan the counter refuses: the page says why, and nothing is handed out or written."""
    with nothing_written(request, Terminal, AccessCard, Loan):
        return scan(client, request, tag, **changes)


def refusals(page: str) -> str:
    """The results list only: the reasons must appear there, next to the refused tag."""
    start = page.index('class="scan-results"')
    return html.unescape(page[start : page.index("</ol>", start)])


def test_the_counter_lists_the_approved_requests_to_choose_from(as_user, facilities, approved):
    page = as_user(facilities).get(reverse("lending:checkout")).content.decode()
    assert f"?request={approved.pk}" in page
    assert "関東電工" in page


def test_a_scanned_terminal_is_handed_out_and_the_names_stay_for_the_next_scan(
    as_user, facilities, approved, terminals, card
):
    page = scan(as_user(facilities), approved, "NW-00001")

    assert "Accepted" in refusals(page)
    assert "Terminal NW-00001 was handed out." in page
    assert "IC-000001" in refusals(page)  # its card went with it
    assert "1 of 2" in page
    assert f'value="{OPERATOR}"' in page
    assert f'value="{SIGNATURE}"' in page
    assert 'name="tag" value=' not in page  # the tag field is empty for the next scan
    assert services.ACKNOWLEDGEMENT.split(" / ")[0][:40] in page
    loan = approved.loans.get()
    assert (loan.status, loan.operator_name, loan.acknowledged_name) == (
        LoanStatus.OPEN,
        OPERATOR,
        SIGNATURE,
    )


def test_each_scan_is_listed_newest_first_with_its_result(as_user, facilities, approved, terminals):
    client = as_user(facilities)
    scan(client, approved, "NW-00001")
    page = refused_scan(client, approved, "NW-99999")

    results = refusals(page)
    assert results.index("NW-99999") < results.index("NW-00001")
    assert "No terminal has the asset tag NW-99999." in results
    assert "2 of 2" not in page
    assert "1 of 2" in page


def test_a_terminal_that_is_not_in_storage_is_refused(as_user, facilities, approved, terminals):
    inventory.terminal_send_to_maintenance(terminal=terminals[0], actor=None, reason="点検")
    page = refused_scan(as_user(facilities), approved, "NW-00001")
    assert "Refused" in refusals(page)
    assert "Terminal NW-00001 is not in storage (it is Maintenance)." in refusals(page)


@pytest.fixture
def anyone_may_reveal():
    def policy(user, account):
        return True

    register_reveal_policy(policy)
    yield
    unregister_reveal_policy(policy)


@pytest.mark.usefixtures("anyone_may_reveal")
def test_a_terminal_whose_password_was_revealed_is_refused(
    as_user, facilities, security, approved, terminals
):
    account = terminals[0].accounts.get()
    secret_reveal(account=account, actor=security)
    page = refused_scan(as_user(facilities), approved, "NW-00001")
    assert "its password was revealed and must be rotated first" in refusals(page)


def test_a_terminal_with_a_pending_rotation_is_refused(as_user, facilities, approved, terminals):
    # Outside django_capture_on_commit_callbacks the rotation is asked for but never runs.
    rotation_request(account=terminals[0].accounts.get(), reason="forced", actor=None)
    page = refused_scan(as_user(facilities), approved, "NW-00001")
    assert "a rotation is pending" in refusals(page)


def test_a_terminal_whose_rotation_failed_is_refused(as_user, facilities, approved, terminals):
    rotation = rotation_request(account=terminals[0].accounts.get(), reason="forced", actor=None)
    rotation_fail(rotation_id=rotation.pk, error="target unreachable")
    page = refused_scan(as_user(facilities), approved, "NW-00001")
    assert "its last rotation failed" in refusals(page)


def test_a_terminal_is_refused_once_the_declaration_is_lifted(
    as_user, facilities, security, approved, terminals
):
    services.declaration_lift(declaration=approved.declaration, actor=security)
    page = refused_scan(as_user(facilities), approved, "NW-00001")
    assert "The declaration “台風10号” is not active." in refusals(page)


def test_a_terminal_beyond_the_requested_number_is_refused(
    as_user,
    facilities,
    approver,
    contractor,
    declaration,
    terminals,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        one = services.access_request_approve(
            request=submit(contractor, declaration, quantity=1), actor=approver
        )
    client = as_user(facilities)
    scan(client, one, "NW-00001")
    page = refused_scan(client, one, "NW-00002")
    assert f"Request #{one.pk} already has its 1 terminals." in refusals(page)
    assert "1 of 1" in page


def test_a_terminal_kept_outside_the_declared_area_is_refused(
    as_user, facilities, approved, operator, target, django_capture_on_commit_callbacks
):
    elsewhere = make_location(code="osaka", name="大阪支店", custodian=operator)
    with_account(
        make_terminal(location=elsewhere, asset_tag="NW-OSAKA"),
        target,
        django_capture_on_commit_callbacks,
    )
    page = refused_scan(as_user(facilities), approved, "NW-OSAKA")
    assert "Terminal NW-OSAKA is kept at a site outside the declaration's area." in refusals(page)


def test_whoever_approved_the_request_cannot_hand_out_its_terminals(
    as_user, approver, approved, terminals
):
    page = refused_scan(as_user(approver), approved, "NW-00001")
    assert "You approved this request, so someone else must hand out its terminals." in refusals(
        page
    )


def test_every_reason_is_listed_when_several_apply(
    as_user, approver, security, approved, terminals
):
    services.declaration_lift(declaration=approved.declaration, actor=security)
    inventory.terminal_send_to_maintenance(terminal=terminals[0], actor=None, reason="点検")
    results = refusals(refused_scan(as_user(approver), approved, "NW-00001"))
    assert "is not in storage" in results
    assert "is not active" in results
    assert "someone else must hand out" in results


def test_a_missing_operator_name_is_shown_on_its_field_and_the_rest_is_kept(
    as_user, facilities, approved, terminals
):
    page = refused_scan(as_user(facilities), approved, "NW-00001", operator_name="  ")
    assert "Name the operator who receives the terminal." in page
    assert 'value="NW-00001"' in page  # the scanned tag is kept to try again
    assert f'value="{SIGNATURE}"' in page


def test_the_counter_page_is_in_japanese_by_default(as_user, facilities, approved, terminals):
    client = as_user(facilities, lang="ja")
    page = client.get(reverse("lending:checkout"), {"request": approved.pk}).content.decode()
    assert "情報取扱いに関する誓約" in page
    assert timezone.localtime(approved.needed_until).strftime("%Y年%-m月%-d日") in page


def test_a_tag_typed_in_full_width_lower_case_is_named_as_the_inventory_spells_it(
    as_user, facilities, approved, terminals, card
):
    page = scan(as_user(facilities), approved, "ｎｗ－００００１")
    assert "Terminal NW-00001 was handed out." in page
    assert "ｎｗ" not in refusals(page)
    assert approved.loans.get().terminal.asset_tag == "NW-00001"
