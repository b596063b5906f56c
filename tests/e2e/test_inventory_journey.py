"""A facilities user registers a terminal, moves it, finds it and prints its label, once in
Japanese and once in English, choosing the language with the switcher on the page."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import follow_menu, pass_second_factor
from tests.factories import make_location, make_terminal

TEXT = {
    "ja": {
        "switch": "日本語",
        "username": "ユーザー名",
        "password": "パスワード",
        "log_in": "ログイン",
        "terminals": "端末",
        "add": "端末を登録",
        "asset_tag": "資産番号",
        "hostname": "ホスト名",
        "location": "設置場所",
        "save": "保存",
        "registered": "端末 NW-E2E-1 を登録しました。",
        "move": "移動",
        "to_location": "移動先",
        "reason": "理由",
        "moved": "端末 NW-E2E-1 を移動しました。",
        "search_box": "検索（資産番号・製造番号・ホスト名）",
        "search": "検索",
        "one_terminal": "1 台",
        "in_storage": "保管中",
        "history": "操作履歴",
        "label": "ラベル",
        "print": "印刷",
    },
    "en": {
        "switch": "English",
        "username": "Username",
        "password": "Password",
        "log_in": "Log in",
        "terminals": "Terminals",
        "add": "Add terminal",
        "asset_tag": "asset tag",
        "hostname": "hostname",
        "location": "location",
        "save": "Save",
        "registered": "Terminal NW-E2E-1 was registered.",
        "move": "Move",
        "to_location": "to location",
        "reason": "reason",
        "moved": "Terminal NW-E2E-1 was moved.",
        "search_box": "Search (tag, serial, hostname)",
        "search": "Search",
        "one_terminal": "1 terminal",
        "in_storage": "In storage",
        "history": "History",
        "label": "Label",
        "print": "Print",
    },
}
CABINET_1 = "本店 > 本館 > 3F > 端末保管室 > 保管庫1"
CABINET_2 = "本店 > 本館 > 3F > 端末保管室 > 保管庫2"


@pytest.mark.e2e
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_a_facilities_user_registers_moves_finds_and_labels_a_terminal(
    transactional_db, live_server, page: Page, screenshot, facilities, password, cabinet, lang
):
    make_location(kind="cabinet", parent=cabinet.parent, code="hq-cab-2", name="保管庫2")
    make_terminal(location=cabinet, asset_tag="NW-OTHER", hostname="someone-else")
    t = TEXT[lang]

    page.goto(live_server.url + "/")
    page.get_by_role("button", name=t["switch"]).click()
    expect(page.locator("html")).to_have_attribute("lang", lang)
    page.get_by_label(t["username"]).fill(facilities.username)
    page.get_by_label(t["password"]).fill(password)
    page.locator("main").get_by_role("button", name=t["log_in"]).click()
    pass_second_factor(page, facilities.username)

    # Register a terminal.
    follow_menu(page, t["terminals"])
    page.get_by_role("link", name=t["add"]).click()
    page.get_by_label(t["asset_tag"]).fill("NW-E2E-1")
    page.get_by_label(t["hostname"]).fill("nwpc-e2e")
    page.get_by_label(t["location"]).select_option(label=CABINET_1)
    page.get_by_role("button", name=t["save"]).click()
    expect(page.locator(".messages")).to_have_text(t["registered"])

    # Move it to the second cabinet.
    page.locator("main").get_by_role("link", name=t["move"], exact=True).click()
    page.get_by_label(t["to_location"]).select_option(label=CABINET_2)
    page.get_by_label(t["reason"]).fill("E2E 棚替え")
    page.get_by_role("button", name=t["save"]).click()
    expect(page.locator(".messages")).to_have_text(t["moved"])

    # Find it by its hostname in the list.
    follow_menu(page, t["terminals"])
    page.get_by_label(t["search_box"]).fill("e2e")
    page.locator("form.filters").get_by_role("button", name=t["search"]).click()
    expect(page.locator(".result-count")).to_have_text(t["one_terminal"])
    row = page.locator("table.terminal-list tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("NW-E2E-1")
    expect(row).to_contain_text(t["in_storage"])
    expect(row).to_contain_text("保管庫2")
    screenshot(f"{lang}-list")

    # Its history shows the move, newest first.
    row.get_by_role("link", name="NW-E2E-1").click()
    expect(page).to_have_url(re.compile(r"/terminals/NW-E2E-1/$"))
    expect(page.get_by_role("heading", name=t["history"])).to_be_visible()
    newest = page.locator("table.history tbody tr").first
    expect(newest).to_contain_text("保管庫1")
    expect(newest).to_contain_text("保管庫2")
    expect(newest).to_contain_text("E2E 棚替え")
    expect(newest).to_contain_text(facilities.username)
    screenshot(f"{lang}-detail")

    # And its label carries the QR code.
    page.get_by_role("link", name=t["label"], exact=True).click()
    expect(page.locator(".label svg")).to_have_count(1)
    expect(page.locator(".label")).to_contain_text("NW-E2E-1")
    expect(page.locator(".label")).to_contain_text("nwpc-e2e")
    expect(page.get_by_role("button", name=t["print"])).to_be_visible()
    screenshot(f"{lang}-labels")
