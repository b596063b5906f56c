from django.urls import reverse

from terminals import services
from tests.factories import make_terminal


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
