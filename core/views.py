"""The audit trail page: the events, newest first, filtered as the API filters them, and whether
the hash chain still verifies."""

from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.audit import chain_break_reason, unsealed_backlog, verify_chain
from core.filters import AuditTrailFilter
from core.models import AuditEvent
from core.web import requires

PAGE_SIZE = 50
# The page's form; the API's other filters (action_prefix, since, until) work in the URL too and
# a search from the form keeps them.
# Events waiting for the sealer (no seq yet) are the newest: first, by id.
NEWEST_FIRST = (F("seq").desc(nulls_first=True), "-id")
SHOWN_FILTERS = ["actor", "action", "object_type", "object_id", "date_from", "date_to"]


@require_GET
@requires("core.view_auditevent")  # what the API's AuditEventViewSet asks for reading events
def audit_trail(request: HttpRequest) -> HttpResponse:
    filterset = AuditTrailFilter(request.GET, queryset=AuditEvent.objects.order_by(*NEWEST_FIRST))
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    # The whole chain, every time: a rewritten old event must show, whatever the filters. A GET
    # writes nothing: events the sealer has not reached yet are listed without their number,
    # and counted in the backlog.
    verified, broken = verify_chain(seal=False)
    backlog = unsealed_backlog()
    return render(
        request,
        "core/audit_trail.html",
        {
            "filter": filterset,
            "shown_fields": [filterset.form[name] for name in SHOWN_FILTERS],
            "kept_fields": [
                filterset.form[name]
                for name in filterset.form.fields
                if name not in SHOWN_FILTERS and request.GET.get(name)
            ],
            "page": page,
            "verified": verified,
            "broken": broken,
            "broken_reason": chain_break_reason(broken.reason) if broken else "",
            "backlog": backlog,
            "alert_seconds": settings.AUDIT_UNSEALED_ALERT_SECONDS,
        },
    )
