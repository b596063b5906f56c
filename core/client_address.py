"""The client's address, the one key that sign-in lockouts and rate limits count by.

REMOTE_ADDR, unless a proxy in front of the service is trusted (TRUSTED_PROXY_HEADER, e.g.
"X-Forwarded-For"): then the TRUSTED_PROXY_COUNT-th address from the right of that header,
the hop our own proxy appended. Addresses further left are whatever the client wrote and are
never believed; a request that did not pass the proxy (no header, or fewer hops) is counted by
REMOTE_ADDR."""

import ipaddress

from django.conf import settings


def _meta_key(header: str) -> str:
    return "HTTP_" + header.strip().upper().replace("-", "_")


def client_address(request) -> str:
    """The address to count a request by (works for Django's and DRF's requests)."""
    meta = request.META
    remote = meta.get("REMOTE_ADDR", "") or "unknown"
    header = settings.TRUSTED_PROXY_HEADER
    if not header:
        return remote
    hops = [hop.strip() for hop in meta.get(_meta_key(header), "").split(",") if hop.strip()]
    count = max(settings.TRUSTED_PROXY_COUNT, 1)
    if len(hops) < count:
        return remote
    candidate = hops[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        # Not an address (a proxy misconfigured, or a port appended): never a free-form key.
        return remote
