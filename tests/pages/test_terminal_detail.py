from django.urls import reverse

from terminals import services
from tests.factories import make_terminal


def test_the_detail_page_shows_the_fields_the_location_path_and_the_cards(
    as_user, auditor, terminal, card
):
    page = as_user(auditor).get(reverse("terminals:detail", args=[terminal.asset_tag]))
    text = page.content.decode()

    for value in (
        "NW-00001",
        "nwpc-0001",
        terminal.serial_number,
        "ThinkPad L14",
        "送配電株式会社",
    ):
        assert value in text
    path = text.split('class="location-path"', 1)[1].split("</dd>", 1)[0]
    assert [name for name in ("本店", "本館", "3F", "端末保管室", "保管庫1") if name in path] == [
        "本店",
        "本館",
        "3F",
        "端末保管室",
        "保管庫1",
    ]
    assert path.index("本店") < path.index("保管庫1")
    assert "IC-000001" in text
    assert reverse("terminals:card_detail", args=["IC-000001"]) in text


def test_the_detail_page_shows_the_whole_history_newest_first(
    as_user, facilities, terminal, second_cabinet
):
    services.terminal_move(
        terminal=terminal, actor=facilities, to_location=second_cabinet, reason="移設"
    )
    services.terminal_send_to_maintenance(terminal=terminal, actor=facilities, reason="画面割れ")

    text = as_user(facilities).get(reverse("terminals:detail", args=[terminal.asset_tag])).content
    history = text.decode().split('<table class="history', 1)[1]

    assert history.index("画面割れ") < history.index("移設")
    assert "fiona" in history
    assert "修理・点検中" in history


def test_the_detail_page_warns_about_a_terminal_outside_approved_storage(
    as_user, facilities, open_room
):
    terminal = make_terminal(location=open_room)
    text = as_user(facilities).get(reverse("terminals:detail", args=[terminal.asset_tag]))
    assert 'class="warning-box"' in text.content.decode()


def test_readers_see_no_buttons_that_change_the_terminal(as_user, security, terminal):
    text = as_user(security).get(reverse("terminals:detail", args=[terminal.asset_tag]))
    page = text.content.decode()
    assert reverse("terminals:edit", args=[terminal.asset_tag]) not in page
    assert reverse("terminals:status", args=[terminal.asset_tag]) not in page
    assert f"{reverse('terminals:labels')}?tag=NW-00001" in page


def test_an_unknown_asset_tag_is_not_found(as_user, facilities):
    assert as_user(facilities).get(reverse("terminals:detail", args=["NW-NONE"])).status_code == 404
