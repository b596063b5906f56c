"""/metrics in Prometheus' text format (version 0.0.4), a few cheap aggregate queries a scrape.

Who may read it: a client whose address is in METRICS_ALLOWED_IPS (addresses or networks;
loopback by default; the address is core.client_address's, so a trusted proxy's header counts),
or one that sends "Authorization: Bearer <METRICS_TOKEN>". Anyone else gets 403 (404 would
hide it, but a misconfigured Prometheus is easier to mend with a clear refusal).

The figures are counts and ages, never a name, a login ID or a secret. The core's own (audit
events not sealed, the worker heartbeat) are here; the apps' (rotations, loans, findings) are
passed in by config.urls, which knows every app (core imports none)."""

import hmac
import ipaddress
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from core.client_address import client_address
from core.health import worker_heartbeat_age
from core.sealer import latest_chain_check, unsealed_backlog

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "nwterm_"


@dataclass(frozen=True)
class Metric:
    name: str  # without the prefix
    help: str
    kind: str  # "gauge" or "counter"
    samples: Sequence[tuple[dict[str, str], float]] = field(default_factory=list)


Collector = Callable[[], Iterable[Metric]]


def gauge(name: str, help_text: str, value: float) -> Metric:
    return Metric(name, help_text, "gauge", [({}, value)])


def core_metrics() -> list[Metric]:
    backlog = unsealed_backlog()
    heartbeat = worker_heartbeat_age()
    check = latest_chain_check()
    return [
        gauge(
            "audit_chain_broken",
            "1 when the last check of the audit chain found it broken, else 0.",
            1 if check is not None and check.broken else 0,
        ),
        gauge(
            "audit_chain_check_age_seconds",
            "Seconds since the audit chain was last checked (+Inf if never).",
            math.inf if check is None else (timezone.now() - check.checked_at).total_seconds(),
        ),
        gauge(
            "audit_events_unsealed", "Audit events not yet sealed into the chain.", backlog.count
        ),
        gauge(
            "audit_unsealed_oldest_age_seconds",
            "Age of the oldest audit event not yet sealed (0 when none).",
            backlog.oldest_age_seconds,
        ),
        gauge(
            "worker_heartbeat_age_seconds",
            "Seconds since a worker last ran the heartbeat task (+Inf if never).",
            math.inf if heartbeat is None else heartbeat,
        ),
    ]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render(metrics: Iterable[Metric]) -> str:
    lines = []
    for metric in metrics:
        name = PREFIX + metric.name
        lines.append(f"# HELP {name} {metric.help}")
        lines.append(f"# TYPE {name} {metric.kind}")
        for labels, value in metric.samples:
            text = ",".join(f'{key}="{_escape(val)}"' for key, val in sorted(labels.items()))
            lines.append(
                f"{name}{{{text}}} {_number(value)}" if text else f"{name} {_number(value)}"
            )
    return "\n".join(lines) + "\n"


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        offered = request.headers.get("Authorization", "")
        if offered.startswith("Bearer ") and hmac.compare_digest(
            offered.removeprefix("Bearer ").strip().encode(), token.encode()
        ):
            return True
    try:
        address = ipaddress.ip_address(client_address(request))
    except ValueError:
        return False
    for allowed in settings.METRICS_ALLOWED_IPS:
        try:
            if address in ipaddress.ip_network(allowed, strict=False):
                return True
        except ValueError:
            continue  # a mistyped entry allows nobody
    return False


def metrics_view(collectors: Sequence[Collector]) -> Callable[[HttpRequest], HttpResponse]:
    """The view for `collectors` (core_metrics and those of the apps, from config.urls)."""

    @never_cache
    @require_safe
    def metrics(request: HttpRequest) -> HttpResponse:
        if not _allowed(request):
            return HttpResponse(
                "Forbidden: not an allowed address and no valid token.\n",
                status=403,
                content_type="text/plain; charset=utf-8",
            )
        gathered = [metric for collect in collectors for metric in collect()]
        return HttpResponse(render(gathered), content_type=CONTENT_TYPE)

    return metrics
