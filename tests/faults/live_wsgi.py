"""The project's WSGI application with every view imported before gunicorn forks its worker
(`--preload`): a worker SIGKILLed by the fault tests is replaced by a fork that serves at once,
instead of importing the URL configuration on its first request."""

from django.db import connections
from django.urls import get_resolver

from config.wsgi import application

get_resolver().url_patterns  # noqa: B018 (imports every view module)
connections.close_all()  # no connection crosses the fork

__all__ = ["application"]
