"""Lockout after repeated failed sign-ins, per username and per client address.

A failed password (sign-in page or API token endpoint) or a wrong second-factor code counts
once against the username and once against the client address (core.client_address), in the
shared cache (core.ratelimit), within LOGIN_FAILURE_WINDOW_SECONDS. When either count reaches
its limit, that username or address is refused for LOGIN_LOCKOUT_SECONDS, the right password
included: guessing stops being answered. A successful sign-in clears the username's count."""

import datetime
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import ngettext

from core.audit import record_event
from core.client_address import client_address
from core.identifiers import normalise_code
from core.models import User
from core.ratelimit import count_in_window, hashed


def _user_key(username: str) -> str:
    # The username's one form (core.identifiers), the form sign-in finds the person by: every
    # spelling of one name (Yamada, ｙａｍａｄａ) counts against the same person.
    return f"user:{hashed(normalise_code(username))}"


def _address_key(address: str) -> str:
    return f"addr:{hashed(address)}"


def locked_until(request, username: str) -> datetime.datetime | None:
    """When the lockout of this username or of the request's address ends; None if neither
    is locked out."""
    keys = [f"lockout:{_address_key(client_address(request))}"]
    if username:
        keys.append(f"lockout:{_user_key(username)}")
    ends = [value for value in cache.get_many(keys).values() if value and value > time.time()]
    if not ends:
        return None
    return datetime.datetime.fromtimestamp(max(ends), tz=datetime.UTC)


def record_failure(request, username: str) -> datetime.datetime | None:
    """Count one failed sign-in; when the username or the address reaches its limit, lock it
    out and return when that ends."""
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    counted = [(_address_key(client_address(request)), settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS)]
    if username:
        counted.append((_user_key(username), settings.LOGIN_FAILURE_LIMIT))
    until = None
    for key, limit in counted:
        count, _left = count_in_window(f"failures:{key}", window)
        if count >= limit:
            end = time.time() + settings.LOGIN_LOCKOUT_SECONDS
            cache.set(f"lockout:{key}", end, timeout=settings.LOGIN_LOCKOUT_SECONDS)
            until = datetime.datetime.fromtimestamp(end, tz=datetime.UTC)
            if count == limit and key.startswith("user:"):
                _audit_lockout(username, until, client_address(request))
    return until


def record_success(username: str) -> None:
    """A sign-in succeeded: the username's failures so far no longer count."""
    key = f"failures:{_user_key(username)}"
    window = int(time.time() // settings.LOGIN_FAILURE_WINDOW_SECONDS)
    cache.delete_many([f"{key}:{window}", f"{key}:{window - 1}"])


def message(until: datetime.datetime) -> str:
    """What a locked-out person reads: why, and when to try again."""
    minutes = max(1, math.ceil((until - timezone.now()).total_seconds() / 60))
    return ngettext(
        "Too many failed sign-ins. Try again in %(n)d minute (at %(time)s).",
        "Too many failed sign-ins. Try again in %(n)d minutes (at %(time)s).",
        minutes,
    ) % {"n": minutes, "time": formats.time_format(timezone.localtime(until), "H:i")}


def retry_after(until: datetime.datetime) -> int:
    return max(1, math.ceil((until - timezone.now()).total_seconds()))


def _audit_lockout(username: str, until: datetime.datetime, address: str) -> None:
    """One event when a user's account is locked out (not one per failure, not for made-up
    usernames: those write nothing)."""
    user = User.objects.filter(username=username).first()
    if user is None:
        return
    with transaction.atomic():
        record_event(
            actor=None,
            action="user.locked_out",
            obj=user,
            details={"address": address, "until": until.isoformat(timespec="seconds")},
        )
