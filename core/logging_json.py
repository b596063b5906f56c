"""Structured logs (LOG_FORMAT=json): one JSON object a line with the time, level, logger,
message, and the request id and user of the request (or the Celery task) that wrote it.

A line holds only those fields. A log record may carry much more (Django's request logger
attaches the whole request, with its POST data), and a formatter that dumped every attribute
would write a form's password into the log; this one never does. The request id comes from the
proxy's X-Request-ID header when it looks like one (nginx's $request_id), else a new one, and
goes back in the answer's X-Request-ID so that a user's report can be found in the logs."""

import json
import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse
from django.utils.functional import empty

_request: ContextVar[HttpRequest | None] = ContextVar("log_request", default=None)
_request_id: ContextVar[str] = ContextVar("log_request_id", default="")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Gives each request an id for its log lines (after the authentication middleware, so that
    the lines name the user once something has loaded it)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        offered = request.headers.get("X-Request-ID", "")
        request_id = offered if _REQUEST_ID.match(offered) else uuid.uuid4().hex
        request_token = _request.set(request)
        id_token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request.reset(request_token)
            _request_id.reset(id_token)
        response["X-Request-ID"] = request_id
        return response


def _username(request: HttpRequest | None) -> str:
    """The signed-in user's name, if the request already knows it. Never loads the user here:
    a query from inside a log call could log again, and a refused session would raise."""
    if request is None:
        return ""
    lazy = request.__dict__.get("user")
    if lazy is None:
        return ""
    user = getattr(lazy, "_wrapped", lazy)
    if user is empty or not getattr(user, "is_authenticated", False):
        return ""
    return str(user.get_username())


def _task() -> tuple[str, str]:
    try:
        from celery import current_task
    except ImportError:  # pragma: no cover - celery is an app dependency
        return "", ""
    task = current_task
    if task is None or not getattr(task, "request", None) or not task.request.id:
        return "", ""
    return str(task.name), str(task.request.id)


class RequestContext(logging.Filter):
    """Puts the request id, user and Celery task on every record (for any formatter)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = _request.get()
        record.request_id = _request_id.get()
        record.user = _username(request)
        record.task, record.task_id = _task()
        return True


class JsonFormatter(logging.Formatter):
    FIELDS = ("request_id", "user", "task", "task_id")

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in self.FIELDS:
            value = getattr(record, field, "")
            if value:
                line[field] = value
        status = getattr(record, "status_code", None)
        if isinstance(status, int):
            line["status"] = status
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)
