"""The second factor (django-otp): a TOTP authenticator app for security officers and
facilities staff, and ten one-time recovery codes (a static device).

After the password, `mark_session` (on user_logged_in) notes in the session whether this user
needs the second factor; core.middleware.SecondFactorMiddleware holds such a session at the
TOTP step until `second_factor_verify` or `totp_enrol_confirm` verify it the way django-otp's
own `login` does (the device's id in the session). Everything the middleware needs is in the
session: checking it costs no query."""

import base64
import os
import time

import segno
from django.db import transaction
from django.http import HttpRequest
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp import login as otp_login
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from core.audit import record_event
from core.crypto import keyring
from core.errors import InvalidInput
from core.models import Authenticator, User
from core.roles import Role, user_role

SECOND_FACTOR_ROLES = frozenset({Role.SECURITY.value, Role.FACILITIES.value})
# Session keys: whether this session needs the second factor, when it signed in, when it was
# last used (core.middleware.SessionLifetimeMiddleware).
REQUIRED_KEY = "second_factor_required"
SIGNED_IN_AT_KEY = "signed_in_at"
SEEN_AT_KEY = "seen_at"
RECOVERY_CODE_COUNT = 10
KEY_BYTES = 20  # an authenticator's key: 160 bits, as RFC 4226 recommends
AUTHENTICATOR_NAME = "authenticator"
RECOVERY_NAME = "recovery"
# seed_demo's devices: their secrets are published, and `manage.py totp_code` tells their codes.
DEMO_DEVICE_NAME = "demo"


def needs_second_factor(user) -> bool:
    return user_role(user) in SECOND_FACTOR_ROLES


def mark_session(sender, request: HttpRequest | None, user, **kwargs) -> None:
    """On every sign-in (the pages, the admin, a test client's force_login): note whether the
    session must pass the second factor, and when it started."""
    if request is None or not hasattr(request, "session"):
        return
    now = int(time.time())
    request.session[SIGNED_IN_AT_KEY] = now
    request.session[SEEN_AT_KEY] = now
    if needs_second_factor(user):
        request.session[REQUIRED_KEY] = True
    else:
        request.session.pop(REQUIRED_KEY, None)


def session_verified(session) -> bool:
    """True when the session needs no second factor, or passed it."""
    return not session.get(REQUIRED_KEY) or bool(session.get(DEVICE_ID_SESSION_KEY))


def confirmed_authenticator(user: User) -> Authenticator | None:
    return Authenticator.objects.filter(user=user, confirmed=True).order_by("-id").first()


def pending_authenticator(user: User) -> Authenticator:
    """The authenticator being enrolled: the same secret on every visit of the enrolment page
    until it is confirmed (so a reload does not break the app the person already set up)."""
    device = Authenticator.objects.filter(user=user, confirmed=False).order_by("-id").first()
    if device is None:
        device = _authenticator_add(
            user=user, name=AUTHENTICATOR_NAME, key=os.urandom(KEY_BYTES), confirmed=False
        )
    return device


def _authenticator_add(*, user: User, name: str, key: bytes, confirmed: bool) -> Authenticator:
    device = Authenticator(user=user, name=name, confirmed=confirmed)
    device.key_set(key)
    device.save()
    return device


def secret_text(device: Authenticator) -> str:
    """The secret as an authenticator app asks for it: base32, in groups of four."""
    text = base64.b32encode(device.bin_key).decode()
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def qr_svg(device: Authenticator) -> str:
    """The enrolment QR code (otpauth:// URL), inline SVG."""
    return segno.make(device.config_url, error="m").svg_inline(scale=5, border=2)


def current_code(device: Authenticator, *, at: float | None = None) -> str:
    """The device's code now (or at the Unix time `at`): for `manage.py totp_code` and tests."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() if at is None else at
    return f"{totp.token():0{device.digits}d}"


def _clean(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()[:32]


def recovery_code_new() -> str:
    """16 base32 characters (80 random bits), shown in four groups: "abcd-efgh-ijkl-mnop"."""
    code = base64.b32encode(os.urandom(10)).decode().lower()
    return "-".join(code[i : i + 4] for i in range(0, 16, 4))


def recovery_code_digest(code: str) -> str:
    """What is stored of a recovery code: a keyed digest that fits django-otp's 16-character
    token column, never the code itself (like a password, it must not be readable from a copy
    of the database). django-otp's own lookup then compares digests."""
    digest = salted_hmac("core.otp.recovery_code", _clean(code), algorithm="sha256")
    return digest.hexdigest()[:16]


@transaction.atomic
def totp_enrol_confirm(*, request: HttpRequest, user: User, code: str) -> list[str]:
    """Confirm the pending authenticator with one code from the app; the session is verified
    and ten new recovery codes are returned (shown once)."""
    device = Authenticator.objects.select_for_update().filter(user=user, confirmed=False).last()
    if device is None or not device.verify_token(_clean(code)):
        raise InvalidInput(
            _("The code was not accepted."),
            field_errors={"code": [_("Wrong code. Enter the 6 digits the app shows now.")]},
        )
    # One authenticator per person: enrolling again replaces the earlier one.
    Authenticator.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    record_event(actor=user, action="user.second_factor_enrolled", obj=user, details={})
    codes = recovery_codes_issue(user=user)
    otp_login(request, device)
    return codes


@transaction.atomic
def recovery_codes_issue(*, user: User) -> list[str]:
    """Ten new one-time recovery codes; the earlier ones stop working."""
    device, _created = StaticDevice.objects.get_or_create(
        user=user, name=RECOVERY_NAME, defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = [recovery_code_new() for _i in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(
        StaticToken(device=device, token=recovery_code_digest(code)) for code in codes
    )
    record_event(
        actor=user,
        action="user.recovery_codes_issued",
        obj=user,
        details={"codes": RECOVERY_CODE_COUNT},
    )
    return codes


def _recovery_code_use(*, user: User, code: str) -> StaticDevice | None:
    """Use up one of the user's recovery codes (audited); the device, or None if it is not one."""
    recovery = StaticDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
    if recovery is None or not recovery.verify_token(recovery_code_digest(code)):
        return None
    record_event(
        actor=user,
        action="user.recovery_code_used",
        obj=user,
        details={"codes_left": recovery.token_set.count()},
    )
    return recovery


@transaction.atomic
def second_factor_verify(*, request: HttpRequest, user: User, code: str) -> bool:
    """Check a code from the authenticator app, or a recovery code (used up); on success the
    session is verified."""
    code = _clean(code)
    if not code:
        return False
    if code.isdigit() and len(code) <= 8:  # an app's code; recovery codes are letters too
        device = Authenticator.objects.select_for_update().filter(user=user, confirmed=True).last()
        if device is not None and device.verify_token(code):
            otp_login(request, device)
            return True
        return False
    recovery = _recovery_code_use(user=user, code=code)
    if recovery is not None:
        otp_login(request, recovery)
        return True
    return False


def token_second_factor_ok(*, user: User, code: str) -> bool:
    """The API token endpoint's check of the code sent with the password (no session)."""
    code = _clean(code)
    with transaction.atomic():
        device = Authenticator.objects.select_for_update().filter(user=user, confirmed=True).last()
        if code.isdigit() and len(code) <= 8:
            return device is not None and device.verify_token(code)
        return bool(code) and _recovery_code_use(user=user, code=code) is not None


@transaction.atomic
def second_factor_reset(*, user: User, actor: User) -> bool:
    """Forget a person's authenticator and recovery codes (a lost or replaced phone): their
    next sign-in asks them to enrol again. Audited; False when there was nothing to forget."""
    authenticators, _by_model = Authenticator.objects.filter(user=user).delete()
    recovery, _by_model = StaticDevice.objects.filter(user=user).delete()
    if not authenticators and not recovery:
        return False
    record_event(actor=actor, action="user.second_factor_reset", obj=user, details={})
    return True


@transaction.atomic
def demo_authenticator_enrol(*, user: User, secret: str) -> Authenticator:
    """seed_demo's authenticator for a demo user, with a published base32 `secret`, marked as a
    demo device; a user who already has an authenticator keeps it."""
    found = Authenticator.objects.filter(user=user, confirmed=True).first()
    if found is not None:
        return found
    device = _authenticator_add(
        user=user,
        name=DEMO_DEVICE_NAME,
        key=base64.b32decode(secret.replace(" ", "").upper()),
        confirmed=True,
    )
    record_event(actor=None, action="user.second_factor_enrolled", obj=user, details={})
    return device


def demo_code(username: str) -> str:
    """The current code of a demo user's authenticator (seed_demo's, marked DEMO_DEVICE_NAME);
    refused for any other device, so that this never helps against a real account."""
    device = Authenticator.objects.filter(
        user__username=username, name=DEMO_DEVICE_NAME, confirmed=True
    ).first()
    if device is None:
        raise InvalidInput(
            _("%(user)s has no demo authenticator (only seed_demo's users have one).")
            % {"user": username}
        )
    return current_code(device)


def authenticators_reencrypt() -> int:
    """Move every authenticator's key under the newest encryption key (rotate_encryption_keys);
    answers how many moved. One per person: one short transaction does them all."""
    with transaction.atomic():
        devices = Authenticator.objects.select_for_update().exclude(key_id=keyring().current_key_id)
        moved = 0
        for device in devices:
            device.key_set(device.bin_key)
            device.save(update_fields=["key_id", "key_ciphertext"])
            moved += 1
    return moved
