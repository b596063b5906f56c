"""One application error type, mapped to JSON by core.api.errors and to messages by pages.
Each error carries its HTTP status, so the one exception handler needs no list of cases."""

from collections.abc import Callable, Sequence
from typing import TypeVar

from django.db import IntegrityError, transaction

T = TypeVar("T")


class ApplicationError(Exception):
    """A request the service refuses; `field_errors` maps a field name to its messages."""

    http_status = 400

    def __init__(self, message: str, *, field_errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}


class Reason(str):
    """A refusal's reason that can say where a person resolves it (`url`, empty when nowhere):
    pages link it, the API sends the text."""

    url: str

    def __new__(cls, text: str, url: str = "") -> "Reason":
        reason = super().__new__(cls, text)
        reason.url = url
        return reason


class InvalidInput(ApplicationError):
    """Bad input: HTTP 400 with a message per field."""


class RuleViolation(ApplicationError):
    """A rule blocks the action: HTTP 409 with the reasons."""

    http_status = 409

    def __init__(self, message: str, *, reasons: Sequence[str] | None = None):
        super().__init__(message)
        self.reasons = list(reasons) if reasons else [message]


class TransitionNotAllowed(RuleViolation):
    pass


def created_unless_taken(create: Callable[[], T], message: str, field_errors: dict) -> T:
    """Insert a row whose unique value was checked free just before: if another person's insert
    took it in between, refuse as the check would have (InvalidInput on that field). A savepoint
    leaves the caller's transaction usable."""
    try:
        with transaction.atomic():
            return create()
    except IntegrityError as exc:
        raise InvalidInput(message, field_errors=field_errors) from exc
