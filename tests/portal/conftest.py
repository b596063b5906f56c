"""Pages read in English as each persona, what the menu shows, the dashboard's panels, and a
declaration with requests and loans to count."""

import datetime
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from django.utils import timezone

from core.roles import Role
from credentials.accounts import account_create
from credentials.targets import target_system_create
from lending import services as lending
from tests.factories import make_terminal, make_user


@pytest.fixture
def read_as(client, settings):
    """`read_as(user, url)`: the page's HTML as that user sees it, in English."""

    def read(user, url: str) -> str:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == 200, url
        return response.content.decode()

    return read


@dataclass
class MenuLink:
    label: str
    href: str
    current: bool
    group: str | None  # the label of the group it is in; None: a link of the bar itself


@dataclass
class Menu:
    links: list[MenuLink] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    current_groups: list[str] = field(default_factory=list)
    found: bool = False

    def labels(self) -> list[str]:
        return [link.label for link in self.links]

    def in_group(self, group: str | None) -> list[str]:
        return [link.label for link in self.links if link.group == group]

    def hrefs(self) -> list[str]:
        return [link.href for link in self.links]

    def link(self, label: str) -> MenuLink:
        (found,) = [link for link in self.links if link.label == label]
        return found


_MENU = object()  # the phone's "Menu" <details>: not a group


class _MenuParser(HTMLParser):
    """Reads <nav class="main-nav">: its groups (the <summary> of each <details> in it but the
    phone's "Menu") and its links, each with the group it is in."""

    def __init__(self):
        super().__init__()
        self.menu = Menu()
        self.in_nav = False
        self.details: list = []  # the <details> the parser is in: _MENU, or the group's label
        self.text: list[str] | None = None
        self.attrs: dict = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "nav" and "main-nav" in classes:
            self.in_nav = self.menu.found = True
        elif self.in_nav and tag == "details":
            self.details.append(_MENU if "nav-menu" in classes else None)
        elif self.in_nav and tag in ("summary", "a"):
            self.text, self.attrs = [], attrs

    def handle_data(self, data):
        if self.text is not None:
            self.text.append(data)

    def handle_endtag(self, tag):
        if not self.in_nav:
            return
        if tag == "nav":
            self.in_nav = False
        elif tag == "details":
            self.details.pop()
        elif tag in ("summary", "a") and self.text is not None:
            text = re.sub(r"\s+", " ", "".join(self.text)).strip()
            self.text = None
            if tag == "summary":
                if self.details[-1] is not _MENU:
                    self.details[-1] = text
                    self.menu.groups.append(text)
                    if self.attrs.get("aria-current"):
                        self.menu.current_groups.append(text)
                return
            groups = [d for d in self.details if isinstance(d, str)]
            self.menu.links.append(
                MenuLink(
                    text,
                    self.attrs["href"],
                    self.attrs.get("aria-current") == "page",
                    groups[-1] if groups else None,
                )
            )


def read_menu(html: str) -> Menu:
    parser = _MenuParser()
    parser.feed(html)
    return parser.menu


@pytest.fixture
def menu_of(read_as):
    def read(user, url: str = "/") -> Menu:
        return read_menu(read_as(user, url))

    return read


def panel(html: str, key: str) -> str | None:
    """The text of one panel of "Waiting for you" (None: the page has no such panel), with
    its link's address kept as `[href]`."""
    match = re.search(rf'<li class="panel[^"]*" data-panel="{key}">(.*?)</li>', html, re.S)
    if match is None:
        return None
    body = re.sub(r'<a [^>]*href="([^"]*)"[^>]*>', r" [\1] ", match.group(1))
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).strip()


# Lending: a declaration over the `hq` site, terminals with an account each ------------------


@pytest.fixture
def approver(operator):
    return make_user("aki", Role.FACILITIES, operator)


@pytest.fixture
def target(db):
    return target_system_create(
        actor=None, code="callcenter", name="コールセンターシステム", connector="local"
    )


@pytest.fixture
def lendable(cabinet, target, django_capture_on_commit_callbacks):
    """`lendable(tag)`: a terminal in the cabinet whose account has its first secret."""

    def make(tag: str):
        terminal = make_terminal(location=cabinet, asset_tag=tag)
        with django_capture_on_commit_callbacks(execute=True):
            account_create(actor=None, target_system=target, terminal=terminal)
        return terminal

    return make


@pytest.fixture
def declaration(site, security):
    return lending.declaration_declare(actor=security, title="台風10号", sites=[site])


@pytest.fixture
def submit(contractor, declaration):
    def make(quantity: int = 1, *, by=None):
        return lending.access_request_submit(
            actor=by or contractor,
            declaration=declaration,
            work_site="千葉県館山市",
            quantity=quantity,
            operators=["山田 太郎"],
            purpose="停電復旧作業",
            needed_until=timezone.now() + datetime.timedelta(days=3),
        )

    return make


@pytest.fixture
def approve(approver, django_capture_on_commit_callbacks):
    def decide(request):
        with django_capture_on_commit_callbacks(execute=True):
            return lending.access_request_approve(request=request, actor=approver)

    return decide


@pytest.fixture
def hand_out(facilities):
    def make(request, terminal):
        return lending.loan_checkout(
            request=request,
            terminal=terminal,
            actor=facilities,
            operator_name="山田 太郎",
            acknowledged_name="山田 太郎",
        )

    return make
