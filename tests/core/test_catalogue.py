"""Every page ships in Japanese: the catalogue has a translation for every message the code
marks, none of them a fuzzy guess (compilemessages leaves those out, so English would show)."""

import re
from pathlib import Path

from django.conf import settings

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "ja" / "LC_MESSAGES" / "django.po"


def _entries() -> list[str]:
    text = CATALOGUE.read_text(encoding="utf-8")
    # Obsolete entries (#~) are kept by makemessages for reuse; they are not shipped.
    return [e for e in text.split("\n\n")[1:] if "msgid" in e and not e.startswith("#~")]


def test_no_translation_is_a_fuzzy_guess():
    fuzzy = [e for e in _entries() if re.search(r"^#,.*\bfuzzy\b", e, re.MULTILINE)]
    assert fuzzy == []


def test_every_message_has_its_japanese():
    untranslated = [
        e
        for e in _entries()
        if re.search(r'^msgstr ""\Z', e.strip().split("\n")[-1]) and "msgstr[" not in e
    ]
    assert untranslated == []


def test_every_translation_function_is_one_makemessages_sees():
    # xgettext finds messages only by the names it knows (_, gettext, gettext_lazy, ngettext...):
    # `from django.utils.translation import gettext as now` hides every message marked with it,
    # and the page shows English (the menu's "API docs" did).
    known = {"_", "gettext", "gettext_lazy", "ngettext", "ngettext_lazy", "pgettext", "npgettext"}
    hidden = []
    for path in Path(settings.BASE_DIR).glob("*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts:
            continue
        for alias in re.findall(
            r"from django\.utils\.translation import [^\n]*?\b\w*gettext\w* as (\w+)",
            path.read_text(encoding="utf-8"),
        ):
            if alias not in known:
                hidden.append(f"{path}: {alias}")
    assert hidden == []
