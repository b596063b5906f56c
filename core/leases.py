"""Leases: one holder at a time for a job that several processes or machines may run (the audit
sealer, the scheduler). A lease is a row taken with an UPDATE that succeeds only once the last
holder's time ran out (or by that holder, to renew it); a holder that dies leaves it to expire."""

import os
import socket
import threading
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from core.models import Lease


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def lease_take(name: str, holder: str, seconds: float) -> bool:
    """Take (or renew) the lease called `name`; False while another holder's has not expired."""
    now = timezone.now()
    for _ in range(2):
        taken = (
            Lease.objects.filter(name=name)
            .filter(Q(expires_at__lt=now) | Q(holder=holder))
            .update(holder=holder, expires_at=now + timedelta(seconds=seconds))
        )
        if taken:
            return True
        _, created = Lease.objects.get_or_create(
            name=name, defaults={"holder": "", "expires_at": now - timedelta(seconds=1)}
        )
        if not created:
            return False
    return False


def lease_release(name: str, holder: str) -> None:
    Lease.objects.filter(name=name, holder=holder).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
