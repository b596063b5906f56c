"""One application error type, mapped to JSON by core.api.errors and to messages by pages.
Each error carries its HTTP status, so the one exception handler needs no list of cases."""


class ApplicationError(Exception):
    """A request the service refuses; `field_errors` maps a field name to its messages."""

    http_status = 400

    def __init__(self, message: str, *, field_errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}


class InvalidInput(ApplicationError):
    """Bad input: HTTP 400 with a message per field."""


class RuleViolation(ApplicationError):
    """A rule blocks the action: HTTP 409 with the reasons."""

    http_status = 409

    def __init__(self, message: str, *, reasons: list[str] | None = None):
        super().__init__(message)
        self.reasons = reasons or [message]


class TransitionNotAllowed(RuleViolation):
    pass
