"""Audit events in words: every action the code records has a label, details read as
"label: value" with coded values in words, and what nobody registered shows as stored."""

import ast
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from core import audit
from credentials.models import AccountState
from terminals import services as inventory
from terminals.models import AccessCardStatus, TerminalStatus

APPS = ("core", "terminals", "credentials", "lending", "compliance", "portal")
# Actions built from a state: the states each family's f-string can take.
DYNAMIC_ACTIONS = {
    "terminal": TerminalStatus.values,
    "access_card": AccessCardStatus.values,
    "account": [AccountState.LOCKED, AccountState.UNLOCKED],
}


def _recorded_actions() -> tuple[set[str], set[str]]:
    """Every `action=` keyword in our apps' code: literal strings, and f-string prefixes."""
    literals, families = set(), set()
    for app in APPS:
        for path in (Path(settings.BASE_DIR) / app).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (
                    not isinstance(node, ast.Call)
                    or getattr(node.func, "attr", "") == "add_argument"
                ):
                    continue  # argparse's action="store_true" is no audit event
                for keyword in node.keywords:
                    value = keyword.value
                    if keyword.arg != "action":
                        continue
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        literals.add(value.value)
                    elif isinstance(value, ast.JoinedStr) and isinstance(
                        value.values[0], ast.Constant
                    ):
                        families.add(value.values[0].value.rstrip("."))
    return literals, families


def test_every_action_the_code_records_has_a_label():
    literals, families = _recorded_actions()
    assert "loan.checked_out" in literals and "terminal" in families  # the walk found them
    actions = literals | {
        f"{family}.{state}" for family in families for state in DYNAMIC_ACTIONS[family]
    }
    registered = {code for code, _label in audit.known_actions()}
    assert sorted(actions - registered) == []


def test_known_keys_and_values_read_in_words_and_unknown_ones_as_stored():
    details = {"from_status": "in_storage", "to_status": "lent", "weird_key": "raw_value"}
    assert audit.describe_details("access_card.lent", details) == [
        ("From status", "In storage"),
        ("To status", "Lent"),
        ("weird_key", "raw_value"),
    ]
    assert audit.action_label("access_card.lent") == "Access card lent"
    assert audit.action_label("nobody.registered_this") == "nobody.registered_this"


def test_a_key_means_different_choices_for_different_objects():
    assert audit.describe_details("location.created", {"kind": "cabinet"}) == [("Kind", "Cabinet")]
    assert audit.describe_details("access_card.created", {"kind": "sign_in"}) == [
        ("Kind", "Terminal sign-in card")
    ]
    assert audit.describe_details("terminal.returned", {"to_status": "returned"}) == [
        ("To status", "Returned (awaiting rotation)")
    ]


def test_changes_lists_and_flags_read_naturally():
    assert audit.describe_details("terminal.updated", {"hostname": ["pc-1", "pc-2"]}) == [
        ("Hostname", "pc-1 → pc-2")
    ]
    assert audit.describe_details("location.created", {"secured": True, "parent": None}) == [
        ("Secured", "Yes"),
        ("Parent", "—"),
    ]
    assert audit.describe_details("stocktake.closed", {"discrepancies": {"missing": 2}}) == [
        ("Discrepancies", "Missing: 2")
    ]


def test_labels_follow_the_language_of_the_page():
    with translation.override("ja"):
        assert audit.describe_details("terminal.lent", {"from_status": "in_storage"}) == [
            ("変更前の状態", "保管中")
        ]


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_the_card_page_shows_its_events_in_words(as_user, security, card, settings, lang):
    inventory.access_card_lend(card=card, actor=security, reason="災害対応")
    client = as_user(security)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = lang
    page = client.get(reverse("terminals:card_detail", args=[card.card_number])).content.decode()
    assert "from_status" not in page
    assert "<code>access_card.lent</code>" not in page
    with translation.override(lang):
        assert audit.action_label("access_card.lent") in page
        label, value = audit.describe_details("access_card.lent", {"from_status": "in_storage"})[0]
    assert f"{label}: {value}" in page
    assert "災害対応" in page
