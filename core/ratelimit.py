"""Counting in the shared cache: rate limits (this module) and sign-in lockouts (core.lockout).

Counts live in Django's default cache, which settings make shared by every process (Redis, or
files on one machine), so a limit holds however many web processes answer. Each count is a
fixed window: the key names the window it belongs to, and expires with it."""

import hashlib
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import ngettext
from rest_framework.exceptions import Throttled

from core.client_address import client_address
from core.identifiers import normalise_code

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int


def parse_rate(text: str) -> Rate:
    """ "10/minute" (also "10/min", "10/m", "30/hour", "5/300s" for a window in seconds)."""
    count, _sep, period = text.strip().partition("/")
    period = period.strip().lower()
    if period.endswith("s") and period[:-1].isdigit():
        seconds = int(period[:-1])
    else:
        matches = [value for name, value in PERIODS.items() if name.startswith(period[:1] or "?")]
        seconds = matches[0] if matches and period else 0
    if not count.strip().isdigit() or seconds <= 0:
        raise ValueError(f"not a rate: {text!r} (write e.g. 10/minute)")
    return Rate(int(count), seconds)


def hashed(value: str) -> str:
    """A cache-key-safe form of anything a client typed (a username may hold any character)."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def count_in_window(key: str, seconds: int) -> tuple[int, int]:
    """Add one to `key`'s count in the current window of `seconds`; the new count and the
    seconds left in the window."""
    now = time.time()
    window = int(now // seconds)
    left = max(1, math.ceil((window + 1) * seconds - now))
    bucket = f"{key}:{window}"
    cache.add(bucket, 0, timeout=left + 1)
    try:
        value = cache.incr(bucket)
    except ValueError:  # expired between add and incr: a new window
        cache.set(bucket, 1, timeout=left + 1)
        value = 1
    if "redis" not in type(cache).__module__:
        # The file and database caches implement incr as get and set, which resets the expiry
        # to the default timeout: put the window's back.
        cache.touch(bucket, timeout=left + 1)
    return int(value), left


def hit(scope: str, keys: Iterable[str], rate: Rate) -> int | None:
    """Count one request of `scope` against each key (a user, an address); the seconds to wait
    when any of them is over the rate, else None."""
    wait = None
    for key in keys:
        count, left = count_in_window(f"rl:{scope}:{hashed(key)}", rate.seconds)
        if count > rate.count:
            wait = max(wait or 0, left)
    return wait


def retry_message(seconds: int) -> str:
    if seconds >= 60:
        minutes = math.ceil(seconds / 60)
        return ngettext(
            "Too many requests. Try again in %(n)d minute.",
            "Too many requests. Try again in %(n)d minutes.",
            minutes,
        ) % {"n": minutes}
    return ngettext(
        "Too many requests. Try again in %(n)d second.",
        "Too many requests. Try again in %(n)d seconds.",
        seconds,
    ) % {"n": seconds}


def request_keys(request, *, username: str = "") -> list[str]:
    """Who a request counts against: its client address, and its user (signed in, or the
    username it tries to sign in with)."""
    keys = [f"addr:{client_address(request)}"]
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        keys.append(f"user:{user.pk}")
    elif username:
        keys.append(f"name:{normalise_code(username)}")  # every spelling of one name
    return keys


def check_api(request, *, scope: str, setting: str, username: str = "") -> None:
    """For API views: raise DRF's 429 (with Retry-After) when the request is over the rate."""
    wait = hit(
        scope, request_keys(request, username=username), parse_rate(getattr(settings, setting))
    )
    if wait is not None:
        raise Throttled(wait=wait, detail=retry_message(wait))


def too_many(request: HttpRequest, wait: int) -> HttpResponse:
    """The page answered to a form posted too often: 429, Retry-After, and when to try again."""
    response = render(
        request,
        "core/rate_limited.html",
        {"message": retry_message(wait), "back": request.get_full_path()},
        status=429,
    )
    response["Retry-After"] = str(wait)
    return response


def rate_limited(scope: str, setting: str) -> Callable:
    """For pages: POSTs to the view count per user and per client address; over the rate
    (settings.<setting>) the page answers 429 and the view is not called."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method == "POST":
                wait = hit(scope, request_keys(request), parse_rate(getattr(settings, setting)))
                if wait is not None:
                    return too_many(request, wait)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
