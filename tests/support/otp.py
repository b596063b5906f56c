"""The second factor in tests: a persona's authenticator app, and the code it shows now.

A TOTP code is accepted once (django-otp keeps the last time step used): `fresh_code` gives the
code of the first step after the last one used, within the step either side of now that
devices accept, and waits for the clock when two were used already."""

import os
import time

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP

from core.models import Authenticator
from core.otp import AUTHENTICATOR_NAME, KEY_BYTES
from tests.support.polling import wait_for


def authenticator(user) -> Authenticator:
    """The user's confirmed authenticator (seed_demo's, or one made now)."""
    device = Authenticator.objects.filter(user=user, confirmed=True).order_by("id").first()
    if device is None:
        device = Authenticator(user=user, name=AUTHENTICATOR_NAME, confirmed=True)
        device.key_set(os.urandom(KEY_BYTES))
        device.save()
    return device


def fresh_code(device: Authenticator) -> str:
    """A code the device accepts now and has not accepted before."""
    device.refresh_from_db()

    def step_now() -> int:  # the device's step now, its learnt clock drift included
        return int((time.time() - device.t0) // device.step) + device.drift

    # The device accepts the steps now-1 .. now+1 (tolerance 1), each only once.
    wait_for(
        lambda: device.last_t < step_now() + device.tolerance,
        timeout=device.step * 2 + 5,
        what="a TOTP time step not used yet",
    )
    step = max(step_now() - device.tolerance, device.last_t + 1)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, drift=0)
    totp.time = device.t0 + step * device.step + 1
    return f"{totp.token():0{device.digits}d}"


def verify_session(client, user) -> None:
    """Mark the test client's session as having passed the second factor, as django-otp's
    `login` does after a good code: the id of the user's authenticator in the session."""
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = authenticator(user).persistent_id
    session.save()


__all__ = ["DEVICE_ID_SESSION_KEY", "authenticator", "fresh_code", "verify_session"]
