import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from terminals import services
from tests.factories import make_location, make_terminal

LIST = reverse("terminals:list")


def _rows(page: str) -> list[str]:
    """The asset tags of the rows, in their order on the page."""
    return [chunk.split('"', 1)[0] for chunk in page.split('name="tag" value="')[1:]]


def test_the_list_shows_each_terminal_with_its_status_and_location(as_user, facilities, terminal):
    page = as_user(facilities).get(LIST).content.decode()
    assert _rows(page) == ["NW-00001"]
    assert "nwpc-0001" in page
    assert "保管中" in page
    assert "保管庫1" in page
    assert reverse("terminals:detail", args=["NW-00001"]) in page


def test_the_search_box_finds_a_terminal_by_tag_serial_or_hostname(as_user, auditor, cabinet):
    make_terminal(location=cabinet, asset_tag="NW-A", serial_number="PF3X91", hostname="east-01")
    make_terminal(location=cabinet, asset_tag="NW-B", serial_number="QQ0000", hostname="west-02")
    client = as_user(auditor)
    for query in ("nw-a", "pf3x", "EAST"):
        assert _rows(client.get(LIST, {"q": query}).content.decode()) == ["NW-A"]


def test_the_list_filters_by_several_statuses_and_by_location(
    as_user, facilities, cabinet, second_cabinet
):
    stored = make_terminal(location=cabinet, asset_tag="NW-STORED")
    repaired = make_terminal(location=cabinet, asset_tag="NW-REPAIR")
    lost = make_terminal(location=second_cabinet, asset_tag="NW-LOST")
    services.terminal_send_to_maintenance(terminal=repaired, actor=None)
    services.terminal_mark_lost(terminal=lost, actor=None, reason="棚卸しで所在不明")
    client = as_user(facilities)

    both = client.get(LIST, {"status": ["maintenance", "lost"]}).content.decode()
    assert sorted(_rows(both)) == ["NW-LOST", "NW-REPAIR"]
    there = client.get(LIST, {"location": second_cabinet.pk}).content.decode()
    assert _rows(there) == ["NW-LOST"]
    # A room includes the cabinets inside it.
    room = client.get(LIST, {"location": cabinet.parent.pk}).content.decode()
    assert sorted(_rows(room)) == ["NW-LOST", "NW-REPAIR", "NW-STORED"]
    assert stored.asset_tag in _rows(client.get(LIST, {"site": cabinet.site_id}).content.decode())


def test_a_column_heading_sorts_the_list_and_a_second_click_reverses_it(
    as_user, facilities, cabinet
):
    for tag, host in (("NW-1", "c"), ("NW-2", "a"), ("NW-3", "b")):
        make_terminal(location=cabinet, asset_tag=tag, hostname=host)
    client = as_user(facilities)

    ascending = client.get(LIST, {"ordering": "hostname"}).content.decode()
    assert _rows(ascending) == ["NW-2", "NW-3", "NW-1"]
    assert "?ordering=-hostname" in ascending  # the heading now offers the reverse order
    descending = client.get(LIST, {"ordering": "-hostname"}).content.decode()
    assert _rows(descending) == ["NW-1", "NW-3", "NW-2"]


def test_the_list_shows_fifty_a_page_and_page_links_keep_the_filters(as_user, facilities, cabinet):
    for n in range(55):
        make_terminal(location=cabinet, asset_tag=f"NW-{n:03d}", hostname="pool")
    client = as_user(facilities)

    first = client.get(LIST, {"q": "pool", "ordering": "-asset_tag"}).content.decode()
    assert len(_rows(first)) == 50
    assert _rows(first)[0] == "NW-054"
    assert "?q=pool&amp;ordering=-asset_tag&amp;page=2" in first
    second = client.get(LIST, {"q": "pool", "ordering": "-asset_tag", "page": 2}).content.decode()
    assert _rows(second) == ["NW-004", "NW-003", "NW-002", "NW-001", "NW-000"]


# One bound for 10 and for 200 terminals: the page's queries do not grow with its rows.
LIST_QUERY_BOUND = 10


@pytest.mark.parametrize("count", [10, 200])
def test_the_list_takes_the_same_few_queries_whatever_the_number_of_terminals(
    as_user, facilities, operator, django_assert_max_num_queries, count
):
    site = make_location(code="big", custodian=operator)
    buildings = [make_location(kind="building", parent=site) for _ in range(3)]
    for n in range(count):
        make_terminal(location=buildings[n % 3])
    client = as_user(facilities)

    with django_assert_max_num_queries(LIST_QUERY_BOUND):
        response = client.get(LIST)

    assert len(_rows(response.content.decode())) == min(count, 50)


def test_the_export_link_carries_the_current_filters(as_user, facilities, terminal):
    page = as_user(facilities).get(LIST, {"q": "NW", "status": "in_storage"}).content.decode()
    assert f"{reverse('terminals:export')}?q=NW&amp;status=in_storage" in page


def test_the_csv_export_holds_only_the_filtered_terminals(as_user, facilities, cabinet):
    make_terminal(location=cabinet, asset_tag="NW-KEEP")
    gone = make_terminal(location=cabinet, asset_tag="NW-GONE")
    services.terminal_retire(terminal=gone, actor=None, reason="廃棄")

    response = as_user(facilities).get(reverse("terminals:export"), {"status": "in_storage"})

    body = b"".join(response.streaming_content).decode("utf-8-sig")
    lines = body.strip().splitlines()
    assert response["Content-Type"].startswith("text/csv")
    assert lines[0].startswith("asset_tag,")
    assert [line.split(",")[0] for line in lines[1:]] == ["NW-KEEP"]


def test_the_csv_export_is_named_after_the_day_in_tokyo(as_user, facilities, terminal):
    # 2026-11-26 23:30 UTC is already the 27th in Tokyo.
    with time_machine.travel(dt.datetime(2026, 11, 26, 23, 30, tzinfo=dt.UTC), tick=False):
        response = as_user(facilities).get(reverse("terminals:export"))
    assert response["Content-Disposition"] == 'attachment; filename="terminals-20261127.csv"'


def test_facilities_see_the_add_button_and_readers_do_not(as_user, facilities, auditor):
    create = reverse("terminals:create")
    assert create in as_user(facilities).get(LIST).content.decode()
    assert create not in as_user(auditor).get(LIST).content.decode()
