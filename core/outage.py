"""A database or a broker that cannot be reached answers 503, never 500: a short page in the
user's language, or JSON {"detail": ...} under /api/, with Retry-After.

A request that fails this way has usually committed nothing (Django rolls back what the failing
statement's transaction did), and then "try again in a moment" is the whole truth. But the
database may go away after a commit, while the answer is being built (the row read back, the
session saved): the middleware watches the request's statements, and a request that committed a
write answers 202 "saved, but the answer could not be shown" instead, never an error for
something that happened. Work sent after a commit never gets here: core.queue.enqueue swallows a
broker error, and a sweeper sends again.

Two ways in: `process_exception` for an error raised by a view (the usual case: the session and
the user are read lazily, inside the view); and the `got_request_exception` signal for one
raised by another middleware (the session saved on the way out), whose 500 this middleware,
standing outside them, turns into the same 503.
"""

import logging
import sys
from collections.abc import Callable

from django.core.signals import got_request_exception
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _
from kombu.exceptions import OperationalError as BrokerOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

# The outside world is down: the database, or the broker (or a Redis cache) before a commit.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    DatabaseOperationalError,
    DatabaseInterfaceError,
    BrokerOperationalError,
    RedisConnectionError,
    RedisTimeoutError,
)
RETRY_AFTER_SECONDS = 30
_MARK = "_outage_error"
_COMMITTED = "_outage_committed"
_WRITES = ("INSERT", "UPDATE", "DELETE", "COPY", "MERGE", "WITH")


def is_outage(exc: BaseException | None) -> bool:
    return isinstance(exc, OUTAGE_ERRORS)


def outage_response(request: HttpRequest) -> HttpResponse:
    """The 503 itself (202 when this request's change was committed before the outage). It
    reads nothing from the database: no user, no session, no context processor; the language
    comes from the cookie or the browser."""
    language = translation.get_language_from_request(request)
    committed = getattr(request, _COMMITTED, False)
    with translation.override(language):
        if committed:
            message = _(
                "Your change was saved, but the service could not finish showing the result. "
                "Do not send it again: open the page again in a minute to see it."
            )
        else:
            message = _(
                "The service is unavailable for a moment (the database or the task queue "
                "cannot be reached). Nothing was saved by this request; please try again in a "
                "minute."
            )
        status = 202 if committed else 503
        if request.path.startswith("/api/"):
            response: HttpResponse = JsonResponse({"detail": message}, status=status)
        else:
            response = HttpResponse(
                render_to_string(
                    "core/outage.html", {"message": message, "LANGUAGE_CODE": language}
                ),
                status=status,
            )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def _note_outage(sender, request: HttpRequest | None = None, **kwargs) -> None:
    """Django sends this while handling an exception that became a 500; remember whether the
    outside world caused it, for the middleware's way out."""
    exc = sys.exc_info()[1]
    if request is not None and is_outage(exc):
        setattr(request, _MARK, exc)


got_request_exception.connect(_note_outage, dispatch_uid="core.outage.note")


class _CommitWatch:
    """Notes on the request that a transaction in which it wrote has committed."""

    def __init__(self, request: HttpRequest):
        self.request = request
        self.waiting_on: list | None = None  # the transaction's on-commit list we joined

    def __call__(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        database = context["connection"]
        # A change is made in a transaction (every service is atomic); a write in autocommit
        # mode is bookkeeping (a token's last use), and so is the session: neither means the
        # user's change was saved.
        # Once per transaction, at its first write: Django replaces the on-commit list when the
        # transaction ends or rolls back to a savepoint. Joining early keeps a later callback (a
        # rotation batch, credentials.rotation) the last one, as it expects.
        if (
            database.in_atomic_block
            and self.waiting_on is not database.run_on_commit
            and not getattr(self.request, _COMMITTED, False)
            and sql.lstrip()[:6].upper().startswith(_WRITES)
            and '"django_session"' not in sql
        ):
            transaction.on_commit(self._committed, using=database.alias)
            self.waiting_on = database.run_on_commit
        return result

    def _committed(self) -> None:
        setattr(self.request, _COMMITTED, True)


class OutageMiddleware:
    """Place it near the top of MIDDLEWARE, outside the session and authentication ones."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            # What a read writes by the way (a token's last use) is no change of the user's.
            response = self.get_response(request)
        else:
            with connection.execute_wrapper(_CommitWatch(request)):
                response = self.get_response(request)
        exc = getattr(request, _MARK, None)
        if response.status_code == 500 and exc is not None:
            return outage_response(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_outage(exception):
            return None
        logger.warning(
            "503 for %s %s: %s: %s",
            request.method,
            request.path,
            type(exception).__name__,
            exception,
        )
        return outage_response(request)
