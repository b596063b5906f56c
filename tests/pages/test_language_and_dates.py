import datetime as dt

import time_machine
from django.urls import reverse

from tests.factories import make_terminal

# 05:05 UTC is 14:05 in Tokyo.
MOMENT = dt.datetime(2026, 11, 26, 5, 5, tzinfo=dt.UTC)


def test_pages_are_japanese_by_default_and_english_after_the_switch(as_user, facilities, terminal):
    client = as_user(facilities)
    list_url = reverse("terminals:list")

    japanese = client.get(list_url).content.decode()
    assert "保管中" in japanese
    assert 'lang="ja"' in japanese

    switched = client.post(reverse("set_language"), {"language": "en", "next": list_url})
    assert switched.status_code == 302
    assert switched["Location"] == list_url

    english = client.get(list_url).content.decode()
    assert "In storage" in english
    assert "保管中" not in english
    assert "Terminals" in english


def test_every_page_carries_the_language_switcher_back_to_itself(
    client, as_user, facilities, terminal
):
    login_page = client.get(reverse("login")).content.decode()
    assert 'action="/i18n/setlang/"' in login_page
    assert '<input type="hidden" name="next" value="/login/">' in login_page

    detail = reverse("terminals:detail", args=[terminal.asset_tag])
    page = as_user(facilities).get(detail).content.decode()
    assert f'<input type="hidden" name="next" value="{detail}">' in page
    assert ">日本語<" in page
    assert ">English<" in page


def test_japanese_pages_show_tokyo_time_the_japanese_way(as_user, facilities, cabinet):
    with time_machine.travel(MOMENT, tick=False):
        terminal = make_terminal(location=cabinet)

    page = as_user(facilities).get(reverse("terminals:detail", args=[terminal.asset_tag]))

    assert "2026年11月26日 14:05" in page.content.decode()


def test_english_pages_show_tokyo_time_on_a_24_hour_clock(as_user, facilities, cabinet):
    with time_machine.travel(MOMENT, tick=False):
        terminal = make_terminal(location=cabinet)
    client = as_user(facilities)
    client.post(reverse("set_language"), {"language": "en", "next": "/"})

    page = client.get(reverse("terminals:detail", args=[terminal.asset_tag]))

    assert "Nov. 26, 2026, 14:05" in page.content.decode()
