import datetime

from django.db import connection
from django.urls import reverse
from django.utils import timezone

from compliance import services as stocktakes
from core.audit import chain_check, record_event, seal_pending
from core.roles import Role
from credentials.models import Account, Rotation, RotationReason, RotationStatus
from lending.models import Loan
from terminals import services
from tests.factories import make_discrepancy, make_terminal, make_user
from tests.portal.conftest import panel


def test_the_dashboard_counts_terminals_by_status_with_links_to_the_list(
    as_user, facilities, cabinet
):
    for _ in range(3):
        make_terminal(location=cabinet)
    broken = make_terminal(location=cabinet)
    services.terminal_send_to_maintenance(terminal=broken, actor=None, reason="画面割れ")

    page = as_user(facilities).get(reverse("dashboard")).content.decode()

    list_url = reverse("terminals:list")
    assert f'href="{list_url}?status=in_storage"' in page
    assert '<span class="tile-count">3</span>' in page
    assert '<span class="tile-count">1</span>' in page
    assert '<span class="tile-count">4</span>' in page  # every terminal
    assert "保管中" in page
    assert "修理・点検中" in page


def test_the_dashboard_names_each_terminal_breaking_the_storage_rule(
    as_user, security, cabinet, open_room
):
    make_terminal(location=cabinet, asset_tag="NW-SAFE")
    make_terminal(location=open_room, asset_tag="NW-LOBBY")

    page = as_user(security).get(reverse("dashboard")).content.decode()

    assert "NW-LOBBY" in page
    assert "NW-SAFE" not in page
    assert reverse("terminals:detail", args=["NW-LOBBY"]) in page


def test_the_dashboard_says_so_when_every_terminal_is_stored_properly(as_user, auditor, cabinet):
    make_terminal(location=cabinet)
    page = as_user(auditor).get(reverse("dashboard")).content.decode()
    assert 'class="ok-box"' in page
    assert 'class="warning-box"' not in page


def test_a_contractor_sees_a_short_dashboard_without_inventory(as_user, contractor, cabinet):
    make_terminal(location=cabinet, asset_tag="NW-HIDDEN")

    response = as_user(contractor).get(reverse("dashboard"))

    page = response.content.decode()
    assert response.status_code == 200
    assert "NW-HIDDEN" not in page
    assert "tile-count" not in page
    assert reverse("terminals:list") not in page
    assert "carl" in page  # who is signed in


# What waits for each user -------------------------------------------------------------------


def test_approvers_see_how_many_requests_wait_for_approval(read_as, approver, submit, approve):
    submit(1)
    submit(2)
    approve(submit(1))  # decided: no longer waits

    page = read_as(approver, reverse("dashboard"))

    shown = panel(page, "approve")
    assert shown.startswith("Access requests to approve 2 ")
    assert f"[{reverse('lending:request-queue')}]" in shown


def test_the_counter_sees_approved_requests_with_terminals_still_to_hand_out(
    read_as, facilities, submit, approve, hand_out, lendable
):
    partly = approve(submit(3))
    hand_out(partly, lendable("NW-00001"))
    done = approve(submit(1))
    hand_out(done, lendable("NW-00002"))  # every terminal out: nothing left to hand out

    shown = panel(read_as(facilities, reverse("dashboard")), "hand-out")

    assert shown.startswith("Approved requests to hand out 1 2 terminals to hand out.")
    assert f"[{reverse('lending:checkout')}]" in shown


def test_the_counter_sees_the_returns_due_and_overdue(
    read_as, facilities, submit, approve, hand_out, lendable
):
    request = approve(submit(3))
    late = hand_out(request, lendable("NW-00001"))
    soon = hand_out(request, lendable("NW-00002"))
    hand_out(request, lendable("NW-00003"))  # due in days: not waiting yet
    now = timezone.now()
    Loan.objects.filter(pk=late.pk).update(due_at=now - datetime.timedelta(hours=2))
    Loan.objects.filter(pk=soon.pk).update(due_at=now + datetime.timedelta(hours=1))

    page = read_as(facilities, reverse("dashboard"))

    shown = panel(page, "returns")
    assert shown.startswith("Returns to receive 2 1 is overdue. 1 is due within 6 hours.")
    assert f"[{reverse('lending:returns')}]" in shown
    assert 'class="panel urgent" data-panel="returns"' in page


def test_security_sees_the_failed_rotations(read_as, security, lendable):
    account = Account.objects.get(terminal=lendable("NW-00001"))
    Rotation.objects.create(
        account=account, reason=RotationReason.FORCED, status=RotationStatus.FAILED
    )

    shown = panel(read_as(security, reverse("dashboard")), "rotations")

    assert shown.startswith("Failed rotations 1 ")
    assert f"[{reverse('credentials:rotations')}]" in shown


def test_security_sees_the_findings_assigned_to_them_and_the_list_shows_those(
    read_as, client, security, operator, terminal
):
    colleague = make_user("sora", Role.SECURITY, operator)
    for subject, assignee in (("NW-A", security), ("NW-B", security), ("NW-C", colleague)):
        make_discrepancy(kind="missing", terminal=terminal, subject=subject, assignee=assignee)
    make_discrepancy(kind="missing", terminal=terminal, subject="NW-D")

    shown = panel(read_as(security, reverse("dashboard")), "findings")

    assert shown.startswith("Findings assigned to you 2 1 open finding is not assigned to anyone.")
    url = f"{reverse('compliance:discrepancy_list')}?assignee={security.pk}"
    assert f"[{url}]" in shown
    listed = read_as(security, url)
    assert "NW-A" in listed and "NW-B" in listed
    assert "NW-C" not in listed and "NW-D" not in listed


def test_stocktakes_wait_for_scanning_staff_and_for_security_to_close(
    read_as, facilities, security, site, cabinet
):
    stocktake = stocktakes.stocktake_open(site=site, actor=security, reason="manual")
    stocktake.due_at = timezone.now() - datetime.timedelta(days=1)
    stocktake.save(update_fields=["due_at"])
    open_list = f"[{reverse('compliance:stocktake_list')}?status=open]"

    to_scan = panel(read_as(facilities, reverse("dashboard")), "stocktakes")
    to_close = panel(read_as(security, reverse("dashboard")), "stocktakes")

    assert to_scan.startswith("Stock-takes to scan 1 1 is past its due date.")
    assert to_close.startswith("Stock-takes to close 1 1 is past its due date.")
    assert open_list in to_scan and open_list in to_close


def test_a_contractor_sees_their_open_requests_and_loans(
    read_as, contractor, outsider, submit, approve, hand_out, lendable
):
    submit(1)
    request = approve(submit(2))
    loan = hand_out(request, lendable("NW-00001"))
    Loan.objects.filter(pk=loan.pk).update(due_at=timezone.now() - datetime.timedelta(hours=1))

    page = read_as(contractor, reverse("dashboard"))

    requests = panel(page, "my-requests")
    assert requests.startswith(
        "My open requests 2 1 waits for approval. "
        "1 is approved: collect the terminals at the counter."
    )
    assert f"[{reverse('lending:requests')}]" in requests
    loans = panel(page, "my-loans")
    assert loans.startswith("My loans 1 1 is overdue.")
    assert f"[{reverse('lending:loans')}]" in loans
    assert panel(page, "approve") is None  # staff's panels are not theirs

    other = read_as(outsider, reverse("dashboard"))  # another company's
    assert panel(other, "my-requests").startswith("My open requests Nothing waiting")
    assert panel(other, "my-loans").startswith("My loans Nothing waiting")


def test_each_role_gets_only_the_panels_of_its_work(read_as, facilities, security, auditor):
    def panels(user):
        page = read_as(user, reverse("dashboard"))
        keys = ("approve", "hand-out", "returns", "rotations", "findings", "stocktakes")
        return [key for key in keys if panel(page, key) is not None]

    assert panels(facilities) == ["approve", "hand-out", "returns", "stocktakes"]
    assert panels(security) == ["rotations", "findings", "stocktakes"]
    assert panels(auditor) == []
    assert "Waiting for you" not in read_as(auditor, reverse("dashboard"))


def test_an_empty_panel_says_nothing_waits(read_as, facilities):
    shown = panel(read_as(facilities, reverse("dashboard")), "approve")
    assert shown.startswith("Access requests to approve Nothing waiting")


def test_those_who_read_the_trail_see_a_broken_chain_on_the_dashboard(as_user, auditor, facilities):
    for i in range(3):
        record_event(actor=None, action="test.x", object_type="t", object_id=str(i))
    seal_pending()
    chain_check()
    assert "chain-broken" not in as_user(auditor).get(reverse("dashboard")).content.decode()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE core_auditevent SET action = 'forged' "
            "WHERE id = (SELECT event_id FROM core_auditseal WHERE seq = 2)"
        )
    chain_check()

    page = as_user(auditor).get(reverse("dashboard")).content.decode()
    assert "監査ログのハッシュチェーンが記録 #2 で途切れていました" in page
    assert "chain-broken" not in as_user(facilities).get(reverse("dashboard")).content.decode()
