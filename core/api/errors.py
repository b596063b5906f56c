"""Errors as JSON: a message per field (400), or the reasons a rule refused the action (409, or
the status the error carries, such as 410 for a password already revealed)."""

from django.core.exceptions import (
    RequestDataTooBig,
    TooManyFieldsSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core import input_limits
from core.errors import ApplicationError, RuleViolation


def exception_handler(exc, context):
    if isinstance(exc, RuleViolation):
        return Response({"detail": exc.message, "reasons": exc.reasons}, status=exc.http_status)
    if isinstance(exc, ApplicationError):
        errors: dict[str, list[str] | str] = dict(exc.field_errors) or {
            "non_field_errors": [exc.message]
        }
        errors.setdefault("detail", exc.message)
        return Response(errors, status=exc.http_status)
    if isinstance(exc, RequestDataTooBig | TooManyFieldsSent):
        # Django's own limits (DATA_UPLOAD_MAX_MEMORY_SIZE, DATA_UPLOAD_MAX_NUMBER_FIELDS), as
        # JSON with the limit instead of Django's empty HTML page.
        return Response({"detail": input_limits.request_too_large_message(exc)}, status=413)
    if isinstance(exc, DjangoValidationError):
        body = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)
