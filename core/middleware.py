"""Session rules every request passes: a session ends when idle or too old, and a security or
facilities session goes no further than the second-factor step until it passed it.

Both read only the session (already loaded for authentication), so they add no query; the idle
clock is written to the session at most once a minute."""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from core.otp import SEEN_AT_KEY, SIGNED_IN_AT_KEY, session_verified

# How often the "last used" time is written: a write per request would save the session row on
# every click (and on every API call made with a session).
SEEN_RESOLUTION_SECONDS = 60
AUTH_USER_KEY = "_auth_user_id"


class SessionLifetimeMiddleware:
    """Ends a session unused for SESSION_IDLE_SECONDS, or older than SESSION_COOKIE_AGE since its
    sign-in (saving the session renews its cookie: this keeps the sign-in's own limit). The
    request then goes on as anonymous: a page asks to sign in, the API answers 401/403."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is not None and session.session_key and AUTH_USER_KEY in session:
            now = int(time.time())
            signed_in = session.get(SIGNED_IN_AT_KEY)
            seen = session.get(SEEN_AT_KEY)
            if signed_in is None:  # signed in before this rule existed: start its clocks now
                session[SIGNED_IN_AT_KEY] = session[SEEN_AT_KEY] = now
            elif now - signed_in > settings.SESSION_COOKIE_AGE or (
                seen is not None and now - seen > settings.SESSION_IDLE_SECONDS
            ):
                idle = now - signed_in <= settings.SESSION_COOKIE_AGE
                logout(request)
                messages.info(
                    request,
                    _(
                        "Your session ended after %(minutes)d minutes without use. "
                        "Please sign in again."
                    )
                    % {"minutes": settings.SESSION_IDLE_SECONDS // 60}
                    if idle
                    else _("Your session reached its time limit. Please sign in again."),
                )
            elif seen is None or now - seen >= SEEN_RESOLUTION_SECONDS:
                session[SEEN_AT_KEY] = now
        return self.get_response(request)


class SecondFactorMiddleware:
    """The one place that holds an unverified security or facilities session: pages redirect to
    the second-factor step (or enrolment), the API answers 403 with a message. API tokens are
    not held: they were issued with the second factor (core.api.views.ObtainTokenView)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is None or session_verified(session) or self._open_to_all(request):
            return self.get_response(request)
        if request.path.startswith("/api/"):
            if request.META.get("HTTP_AUTHORIZATION", "").lower().startswith("token "):
                # Token authentication, not this session: DRF refuses a bad token (401) rather
                # than falling back to the session.
                return self.get_response(request)
            return JsonResponse(
                {
                    "detail": _(
                        "Complete the second factor (the code from your authenticator app) first."
                    )
                },
                status=403,
            )
        target = reverse("second-factor")
        if request.method == "GET":
            target += "?" + urlencode({"next": request.get_full_path()})
        return redirect(target)

    @staticmethod
    def _open_to_all(request: HttpRequest) -> bool:
        path = request.path
        static = "/" + settings.STATIC_URL.lstrip("/")
        if path.startswith((static, "/i18n/")):
            return True
        return path in {
            reverse("login"),
            reverse("logout"),
            reverse("second-factor"),
            reverse("second-factor-enrol"),
        }
