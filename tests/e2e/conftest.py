"""Playwright drives Debian's chromium (never a downloaded one) against the live server."""

import base64
import re
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

SCREENS = Path(tempfile.gettempdir()) / "screens"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser_type_launch_args():
    return {
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": DESKTOP}


@pytest.fixture
def screenshot(page):
    """Save the page as it looks on a desktop and on a phone, for a person to look at."""
    SCREENS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> None:
        page.screenshot(path=SCREENS / f"{name}-desktop.png", full_page=True)
        page.set_viewport_size(PHONE)
        page.screenshot(path=SCREENS / f"{name}-phone.png", full_page=True)
        page.set_viewport_size(DESKTOP)

    return take


def wait_until_ready(page: Page, script: str) -> None:
    """Wait until the page's deferred static/js/<script>.js has attached its handlers: it then adds
    its name to <html data-ready>. Browser tests wait for the page to be ready, never for time."""
    ready = re.compile(rf"(^|\s){re.escape(script)}(\s|$)")
    expect(page.locator("html")).to_have_attribute("data-ready", ready)


def pass_second_factor(page: Page, username: str) -> None:
    """After the password: a security officer or facilities user types the code of their
    authenticator app, as a person does (computed from the secret seed_demo published, or from
    the device the test made); one without an app enrols one first (the secret read from the
    page) and goes on past the recovery codes. Anyone else is already past this."""
    from django_otp.oath import TOTP

    from core.models import User
    from tests.support.otp import authenticator, fresh_code

    expect(page).not_to_have_url(re.compile(r"/login/(\?.*)?$"))
    if "/login/second-factor/enrol/" in page.url:
        secret = page.locator(".otp-secret").inner_text().replace(" ", "")
        totp = TOTP(base64.b32decode(secret))
        page.locator("[name=code]").fill(f"{totp.token():06d}")
        page.locator("main").locator("button[type=submit]").click()
        page.locator(".recovery-codes").wait_for()
        page.locator("main .actions a").click()
    elif "/login/second-factor/" in page.url:
        device = authenticator(User.objects.get(username=username))
        page.locator("[name=code]").fill(fresh_code(device))
        page.locator("main").locator("button[type=submit]").click()
    expect(page).not_to_have_url(re.compile(r"/login/"))


def follow_menu(page: Page, name: str) -> None:
    """Follow a link of the main menu as a person does: on a phone open the "Menu", then open
    the link's group (a link inside a closed <details> cannot be clicked), then the link."""
    link = page.locator("nav.main-nav").get_by_role(
        "link", name=name, exact=True, include_hidden=True
    )
    # Outermost first: the phone's "Menu", then the group.
    for summary in link.locator("xpath=ancestor::details/summary").all():
        if summary.is_visible() and not summary.evaluate("s => s.parentElement.open"):
            summary.click()
    link.click()
