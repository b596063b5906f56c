"""Every page speaks the reader's language only (issue #9, item 9): each page any role can open
is rendered in English and in Japanese, and none shows a string of the other language's UI
catalogue: an English page shows no Japanese message of ours, a Japanese page no English one.

The pages come from the permission matrix, with its world (one of everything), built by people
working in Japanese: what the system writes as they act must still read in English on an English
page (a terminal's history said 貸与申請 #1 により貸与). The world's own data (names of places,
people, systems) is in Japanese, as an operator's would be: it is removed from the text before an
English page is searched. Text in an element that says it is in another language (the language
switcher's 日本語, the Japanese half of the signed acknowledgement) is not a leak."""

import gettext
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.test import Client, override_settings
from django.utils import translation

from tests.permissions.test_matrix import ROLES, _build_world, matrix_routes

JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff00-\uffef]")
# World data in Japanese, as _build_world writes it, plus what the system derives from it.
WORLD_DATA = [
    "送配電株式会社", "関東電工", "本店", "本館", "端末保管室", "保管庫1", "保管庫",
    "コールセンターシステム", "手動システム", "台風10号", "千葉県館山市 配電復旧現場", "館山市",
    "山田 太郎", "鈴木 一郎", "停電復旧作業の顧客対応", "復旧作業", "北支店",
    "小売向け暫定運用（移行期間）", "移行まで", "移行の遅延による延長", "誓約書の保管が不十分",
    "保管庫の施錠", "高橋 次郎", "情報セキュリティ研修", "誓約書は本日中に提出",
]  # fmt: skip
# English msgids that are also the world's data or codes, or read the same in Japanese.
NOT_WORDS_OF_THE_UI = {"OK", "ID", "API", "CSV", "PDF", "QR"}


def _catalogue() -> dict[str, str]:
    locale = Path(settings.BASE_DIR) / "locale"
    translations = gettext.translation("django", localedir=locale, languages=["ja"])
    catalogue: dict[str, str] = {}
    for key, value in translations._catalog.items():  # type: ignore[attr-defined]
        msgid = key[0] if isinstance(key, tuple) else key
        if msgid and value and value != msgid:
            catalogue[msgid] = value
    return catalogue


CATALOGUE = _catalogue()
# A Japanese page must not show these English messages; whole words only, case as written. Short
# words ("Loan", "Status") are kept: a lone English label on a Japanese page is the leak.
ENGLISH = sorted(
    {
        msgid
        for msgid in CATALOGUE
        if re.fullmatch(r"[A-Za-z][A-Za-z ,.'-]{2,}", msgid)
        and msgid not in NOT_WORDS_OF_THE_UI
        and "%" not in msgid
    },
    key=len,
    reverse=True,
)
# An English page must not show these Japanese messages (the placeholders' text split off).
JAPANESE_MESSAGES = sorted(
    {
        piece
        for text in CATALOGUE.values()
        for piece in re.split(r"%\(\w+\)[sd]|%[sd]|\{\w*\}", text)
        if len(JAPANESE.findall(piece)) >= 2
    },
    key=len,
    reverse=True,
)


class _VisibleText(HTMLParser):
    """The text a reader sees or hears: text nodes and the attributes read aloud, without
    scripts, styles, and elements marked as another language."""

    SPOKEN = ("title", "placeholder", "aria-label", "alt")
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}

    def __init__(self, language: str):
        super().__init__()
        self.language = language
        self.stack: list[bool] = []  # per open element: is its text skipped?
        self.parts: list[str] = []

    def _skipping(self) -> bool:
        return bool(self.stack) and self.stack[-1]

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        lang = attributes.get("lang")
        skip = (
            self._skipping()
            or tag in ("script", "style")
            or bool(lang and not lang.startswith(self.language) and tag != "html")
        )
        if not skip:
            self.parts.extend(v for k, v in attrs if k in self.SPOKEN and v)
            if tag in ("button", "input") and attributes.get("type") in ("submit", "button"):
                self.parts.append(attributes.get("value") or "")
        if tag not in self.VOID:
            self.stack.append(skip)

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not self._skipping():
            self.parts.append(data)


def visible_text(html: str, language: str) -> str:
    parser = _VisibleText(language)
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def english_leaks(text: str) -> list[str]:
    found = []
    for msgid in ENGLISH:
        if re.search(rf"(?<![\w-]){re.escape(msgid)}(?![\w-])", text):
            found.append(msgid)
            text = text.replace(msgid, " ")
    return found


def japanese_leaks(text: str) -> list[str]:
    for data in sorted(WORLD_DATA, key=len, reverse=True):
        text = text.replace(data, " ")
    return [message for message in JAPANESE_MESSAGES if message in text]


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    changed = override_settings(
        MEDIA_ROOT=tmp_path_factory.mktemp("media"),
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    )
    with django_db_blocker.unblock(), changed, transaction.atomic():
        with translation.override("ja"):
            built = _build_world()
        yield built
        transaction.set_rollback(True)


PAGES = [
    pytest.param(route, None, id=route)
    for route, (kind, methods) in matrix_routes().items()
    if kind == "pages" and "GET" in methods
] + [
    # The lent terminal too: its history holds what lending wrote at the hand-out.
    pytest.param("terminals/<identifier:asset_tag>/", "/terminals/NW-00001/", id="lent terminal"),
]


@pytest.mark.parametrize(("route", "url"), PAGES)
def test_each_page_speaks_only_the_readers_language(db, world, route, url):
    expected = matrix_routes()[route][1]["GET"]
    url = url or world.url(route)
    problems = []
    for role in ROLES:
        if expected[role] != 200:
            continue
        client = Client()
        if role != "anonymous":
            client.force_login(world.users[role])
        for language, leaks in (("en", japanese_leaks), ("ja", english_leaks)):
            cache.clear()
            client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
            response = client.get(url)
            assert response.status_code == 200, (route, role, response.status_code)
            if "text/html" not in response.get("Content-Type", ""):
                continue
            found = leaks(visible_text(response.content.decode(), language))
            if found:
                problems.append(f"{url} as {role} in {language}: {found}")
    assert not problems, "\n".join(problems)


def test_the_catalogue_lists_both_languages():
    # The test above would pass on an empty catalogue: make sure it searched for something.
    assert len(ENGLISH) > 300 and len(JAPANESE_MESSAGES) > 300
