"""What the system itself writes into a record (a movement's reason, a request's decision) is
stored as a phrase: a code with its parameters, put into words when it is read, in the reader's
language. A reason typed by a person stays the text they typed (issue #9: an English page showed
貸与申請 #1 により貸与 because the hand-out was done by someone reading Japanese).

Apps define their phrases at import time of the module that writes them; `describe` finds them by
code, so core never imports an app. Stored form: {"phrase": code, "params": {...}}.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.functional import Promise

Wording = Promise | Callable[..., Any]

_WORDINGS: dict[str, Wording] = {}


@dataclass(frozen=True)
class Phrase:
    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def stored(self) -> dict[str, Any]:
        return {"phrase": self.code, "params": dict(self.params)}

    def __str__(self) -> str:
        return describe(self.stored())


# A reason as services take it: a person's text, or a phrase the system writes.
Reason = str | Phrase


def define(code: str, wording: Wording) -> Callable[..., Phrase]:
    """Register a phrase; returns its maker, e.g. LENT = define("lending.lent", gettext_lazy(
    "Lent for request #%(id)s")) and later LENT(id=3). `wording` is a lazy translation formatted
    with the parameters, or a function of them returning one."""
    if _WORDINGS.get(code, wording) is not wording:
        raise ValueError(f"phrase {code!r} is defined twice")
    _WORDINGS[code] = wording

    def make(**params: Any) -> Phrase:
        return Phrase(code, params)

    return make


def is_stored_phrase(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("phrase"), str)


def describe(value: object) -> str:
    """A stored phrase in the current language; any other value as text. An unknown code (a
    phrase since removed) shows as its code rather than failing the page."""
    if not is_stored_phrase(value):
        return "" if value is None else str(value)
    assert isinstance(value, dict)
    wording = _WORDINGS.get(value["phrase"])
    params = value.get("params") or {}
    if wording is None:
        return value["phrase"]
    if callable(wording) and not isinstance(wording, Promise):
        return str(wording(**params))
    text = str(wording)
    return text % params if params else text


def split(reason: Reason) -> tuple[str, dict[str, Any] | None]:
    """(text, phrase) for a model that stores a person's text and a system phrase side by side."""
    if isinstance(reason, Phrase):
        return "", reason.stored()
    return reason, None


def for_details(reason: Reason) -> "str | dict[str, Any]":
    """How a reason goes into an audit event's details: a phrase stays a phrase."""
    return reason.stored() if isinstance(reason, Phrase) else reason
