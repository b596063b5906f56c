from django.urls import reverse

from terminals import services
from tests.factories import make_card, make_terminal


def test_the_location_tree_indents_each_place_and_counts_its_terminals(
    as_user, facilities, cabinet, open_room
):
    make_terminal(location=cabinet)
    make_terminal(location=cabinet)
    make_terminal(location=open_room)

    page = as_user(facilities).get(reverse("terminals:locations")).content.decode()

    site_row = page.split('class="depth-0"', 1)[1].split("</tr>", 1)[0]
    cabinet_row = page.split('class="depth-4"', 1)[1].split("</tr>", 1)[0]
    lobby_row = page.split("hq-b2-lobby", 1)[1].split("</tr>", 1)[0]
    assert "本店" in site_row
    assert f'?location={cabinet.site_id}">3<' in site_row  # everything on the site
    assert f'?location={cabinet.pk}">2<' in cabinet_row
    assert "保管庫1" in cabinet_row
    assert "unsecured" in lobby_row
    assert "送配電株式会社" in lobby_row


def test_the_card_list_filters_by_status_kind_and_number(as_user, auditor, cabinet, terminal):
    make_card(location=cabinet, card_number="IC-ENTRY-1", kind="entry")
    signin = make_card(location=cabinet, card_number="IC-SIGN-1", kind="sign_in")
    services.access_card_mark_lost(card=signin, actor=None, reason="紛失届")
    client = as_user(auditor)

    def numbers(**params):
        page = client.get(reverse("terminals:cards"), params).content.decode()
        rows = page.split('<td><a href="/terminals/cards/')[1:]
        return [row.split("/", 1)[0] for row in rows]

    assert numbers() == ["IC-ENTRY-1", "IC-SIGN-1"]
    assert numbers(status="lost") == ["IC-SIGN-1"]
    assert numbers(kind="entry") == ["IC-ENTRY-1"]
    assert numbers(q="sign") == ["IC-SIGN-1"]


def test_the_card_page_shows_its_terminal_location_and_audit_log_to_a_security_officer(
    as_user, security, card
):
    services.access_card_lend(card=card, actor=security, reason="災害対応")

    page = as_user(security).get(reverse("terminals:card_detail", args=[card.card_number]))

    text = page.content.decode()
    assert reverse("terminals:detail", args=["NW-00001"]) in text
    assert "本店 &gt; 本館 &gt; 3F &gt; 端末保管室 &gt; 保管庫1" in text
    assert "access_card.created" in text
    assert "access_card.lent" in text
    assert "災害対応" in text


def test_facilities_staff_see_the_card_but_not_the_audit_log(as_user, facilities, card):
    text = as_user(facilities).get(reverse("terminals:card_detail", args=[card.card_number]))
    page = text.content.decode()
    assert "NW-00001" in page
    assert "access_card.created" not in page
