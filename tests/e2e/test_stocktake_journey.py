"""A stock-take from the shelf to the review, in Japanese (the default language; the inventory
journey is the one that tests the switcher and English): a facilities user scans a cabinet on a
phone, typing tags as a keyboard-wedge scanner would; a security officer at a desk closes the
count and resolves every discrepancy until the stock-take is complete."""

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from compliance import services as stocktakes
from tests.e2e.conftest import PHONE, SCREENS, follow_menu, pass_second_factor, wait_until_ready
from tests.factories import make_location, make_terminal

SHOTS = SCREENS / "stocktake"
CABINET_1 = "本店 > 本館 > 3F > 端末保管室 > 保管庫1"
LANG = "ja"
TEXT = {
    "ja": {
        "switch": "日本語",
        "username": "ユーザー名",
        "password": "パスワード",
        "log_in": "ログイン",
        "stocktakes": "棚卸し",
        "discrepancies": "差異",
        "scan": "読取",
        "where": "現在の場所",
        "expected_here": "ここにあるべき端末",
        "belongs_elsewhere": "設置場所相違",
        "unknown": "未登録",
        "close": "棚卸しを締める",
        "closed": "締め済（確認中）",
        "found_elsewhere": "設置場所相違",
        "missing": "所在不明",
        "relocated": "発見場所へ設置場所を変更",
        "written_off": "除却",
        "lost": "紛失・盗難",
        "note": "メモ",
        "resolve": "解決",
        "completed": "完了",
    },
}


def log_in(page: Page, base_url: str, user, password: str, t: dict, lang: str) -> None:
    page.goto(base_url + "/")
    page.get_by_role("button", name=t["switch"]).click()
    expect(page.locator("html")).to_have_attribute("lang", lang)
    page.get_by_label(t["username"]).fill(user.username)
    page.get_by_label(t["password"]).fill(password)
    page.locator("main").get_by_role("button", name=t["log_in"]).click()
    pass_second_factor(page, user.username)


def confirm(page: Page) -> None:
    """Press the button of the confirmation page (core.web.confirmation) that an irreversible
    action shows first; the caller then waits for the page the action leads to."""
    form = page.locator("form.confirmation")
    expect(form).to_be_visible()
    form.locator('button[type="submit"]').click()


def scan(page: Page, tag: str) -> None:
    """Type as a keyboard-wedge scanner does: into the focused field, then Enter."""
    wait_until_ready(page, "scan")
    expect(page.locator("#id_tag")).to_be_focused()
    page.keyboard.type(tag)
    page.keyboard.press("Enter")
    expect(page.locator(".last-scan .last-tag")).to_have_text(tag)


@pytest.mark.e2e
def test_a_count_on_a_phone_then_a_review_at_a_desk_completes_the_stocktake(
    transactional_db,
    live_server,
    browser: Browser,
    page: Page,
    facilities,
    security,
    password,
    site,
    cabinet,
):
    lang = LANG
    second = make_location(kind="cabinet", parent=cabinet.parent, code="hq-cab-2", name="保管庫2")
    make_terminal(location=cabinet, asset_tag="NW-A")
    make_terminal(location=cabinet, asset_tag="NW-B")
    make_terminal(location=second, asset_tag="NW-C")
    stocktake = stocktakes.stocktake_open(site=site, actor=security, reason="manual")
    t = TEXT[lang]
    SHOTS.mkdir(parents=True, exist_ok=True)

    # On a phone: choose the cabinet and scan what is on its shelf.
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    mobile = phone.new_page()
    log_in(mobile, live_server.url, facilities, password, t, lang)
    follow_menu(mobile, t["stocktakes"])
    mobile.get_by_role("link", name="本店").click()
    mobile.locator("main").get_by_role("link", name=t["scan"], exact=True).click()
    wait_until_ready(mobile, "scan")  # choosing a location loads it only once scan.js is set up
    mobile.get_by_label(t["where"]).select_option(label=CABINET_1)  # loads on choosing
    expect(mobile).to_have_url(re.compile(rf"location={cabinet.pk}"))
    wait_until_ready(mobile, "scan")  # the camera button is shown or hidden for good
    here_bar = mobile.locator("#progress-here-bar")
    here_count = mobile.locator("#progress-here .progress-count")
    expect(here_bar).to_have_attribute("value", "0")
    expect(here_bar).to_have_attribute("max", "2")
    before = here_count.inner_text()
    expect(mobile.locator(".expected-list")).to_have_count(0)  # a blind count
    expect(mobile.locator(".choose-location button")).to_be_hidden()  # choosing loads it
    camera = mobile.locator("[data-camera-start]")
    if mobile.evaluate("'BarcodeDetector' in window"):
        expect(camera).to_be_visible()
    else:
        expect(camera).to_be_hidden()

    scan(mobile, "NW-A")
    expect(mobile.locator(".last-scan")).to_have_class(re.compile("result-expected_here"))
    expect(mobile.locator(".last-scan")).to_contain_text(t["expected_here"])
    expect(here_bar).to_have_attribute("value", "1")
    expect(here_count).not_to_have_text(before)
    expect(here_count).to_contain_text("1")
    expect(mobile.locator("#progress-all-bar")).to_have_attribute("value", "1")

    scan(mobile, "NW-C")
    expect(mobile.locator(".last-scan")).to_have_class(re.compile("result-belongs_elsewhere"))
    expect(mobile.locator(".last-scan")).to_contain_text(t["belongs_elsewhere"])
    expect(here_bar).to_have_attribute("value", "1")

    scan(mobile, "NW-ZZZ")
    flagged = mobile.locator(".last-scan")
    expect(flagged).to_have_class(re.compile("result-unknown"))
    expect(flagged).to_contain_text(t["unknown"])
    expect(mobile.locator(".recent-scans li")).to_have_count(3)
    width = mobile.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the scanning page scrolls sideways on a phone"
    mobile.screenshot(path=SHOTS / f"{lang}-scan-phone.png", full_page=True)

    # A scanner that stored its reads hands them over at once: one scan and one result each.
    mobile.locator("#scan-form a[href*='mode=batch']").click()
    wait_until_ready(mobile, "scan")
    tags = mobile.locator("#batch-form textarea")
    expect(tags).to_be_focused()
    tags.fill("NW-A\nNW-C\n")
    mobile.locator("#batch-form button[type=submit]").click()
    results = mobile.locator(".last-batch li")
    expect(results).to_have_count(2)
    expect(results.locator(".dot.result-repeated")).to_have_count(2)  # both counted already
    expect(here_bar).to_have_attribute("value", "1")
    width = mobile.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the batch mode scrolls sideways on a phone"
    phone.close()

    # At a desk: close the count and review what it found.
    log_in(page, live_server.url, security, password, t, lang)
    follow_menu(page, t["stocktakes"])
    page.get_by_role("link", name="本店").click()
    page.get_by_role("link", name=t["close"]).click()
    page.get_by_role("button", name=t["close"]).click()
    expect(page.locator("h1 .badge").first).to_have_text(t["closed"])
    kinds = page.locator(".kind-tiles")
    expect(kinds).to_contain_text(t["found_elsewhere"])
    expect(kinds).to_contain_text(t["missing"])
    expect(kinds).to_contain_text(t["unknown"])
    site_row = page.locator(".summary-table tbody tr.depth-0")
    expect(site_row).to_contain_text("本店")
    expect(site_row.locator("td").last).to_have_text("3")
    page.screenshot(path=SHOTS / f"{lang}-summary-desktop.png", full_page=True)

    decisions = [("NW-C", t["relocated"]), ("NW-ZZZ", t["written_off"]), ("NW-B", t["lost"])]
    for subject, outcome in decisions:
        follow_menu(page, t["discrepancies"])
        page.locator("table.discrepancies").get_by_role("link", name=subject).click()
        page.get_by_label(outcome).check()
        page.get_by_label(t["note"]).fill(f"E2E: {subject}")
        page.screenshot(path=SHOTS / f"{lang}-resolve-{subject}-desktop.png", full_page=True)
        page.get_by_role("button", name=t["resolve"]).click()
        if outcome != t["relocated"]:  # writing off and lost cannot be undone: asked first
            confirm(page)
        expect(page.locator(".messages")).to_contain_text(subject)

    page.locator(".breadcrumbs").get_by_role("link", name=re.compile("本店")).click()
    expect(page.locator("h1 .badge").first).to_have_text(t["completed"])
    stocktake.refresh_from_db()
    assert stocktake.status == "completed"
