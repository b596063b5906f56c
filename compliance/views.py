"""Stock-take and discrepancy pages. Each view checks permissions and calls terminals.stocktakes
(and terminals.policy_checks); a refusal is shown on the form that caused it."""

import os
from collections import Counter

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Q
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from compliance import access_log_rules, policy_checks, selectors
from compliance import services as stocktakes
from compliance.forms import (
    AssignForm,
    DiscrepancyFilter,
    EvidenceForm,
    ResolveForm,
    ScanBatchForm,
    ScanForm,
    ScanLocationForm,
    StockTakeOpenForm,
)
from compliance.models import (
    STOCKTAKE_KINDS,
    Discrepancy,
    DiscrepancyEvidence,
    DiscrepancyKind,
    DiscrepancyOutcome,
    Scan,
    ScanResult,
    StockTake,
    StockTakeExpectation,
    StockTakeReason,
    StockTakeStatus,
)
from compliance.reports import StockTakeReportRowSerializer, stocktake_report_rows
from core.audit import format_iso_datetime
from core.errors import ApplicationError
from core.filters import sort_columns
from core.spreadsheets import csv_download
from core.web import apply_service_error, confirmation, confirmed, requires
from terminals.forms import location_path_label
from terminals.models import Location, TerminalStatus

PAGE_SIZE = 50
RECENT_SCANS = 15
# Evidence shown in the page as a picture; anything else is only ever downloaded.
INLINE_IMAGES = {".jpg", ".jpeg", ".png", ".gif", ".webp"}

# What each result means for the person holding the scanner, in one sentence.
RESULT_MESSAGES = {
    ScanResult.EXPECTED_HERE: gettext_lazy("Expected here: counted."),
    ScanResult.BELONGS_ELSEWHERE: gettext_lazy(
        "Recorded at another location. Leave it where it is: it is reported, not moved."
    ),
    ScanResult.RECORDED_AS_LENT: gettext_lazy(
        "Recorded as lent (or lost), yet it is here: it is reported for review."
    ),
    ScanResult.UNKNOWN: gettext_lazy("No terminal has this tag: it is reported for review."),
    ScanResult.REPEATED: gettext_lazy("Already scanned here: counted once."),
}

DETAIL_LABELS = {
    "recorded_location": gettext_lazy("recorded location"),
    "locations": gettext_lazy("scanned at"),
    "recorded_status": gettext_lazy("recorded status"),
    "status": gettext_lazy("status"),
    "location": gettext_lazy("location"),
    "target_system": gettext_lazy("target system"),
    "login_id": gettext_lazy("login ID"),
    "account": gettext_lazy("account"),
    "age_days": gettext_lazy("age (days)"),
    "interval_days": gettext_lazy("stock-take interval (days)"),
    "last_completed": gettext_lazy("last completed"),
    "contractor": gettext_lazy("contractor"),
    "kind": gettext_lazy("kind"),
    "subject": gettext_lazy("subject"),
    # sign-in findings (compliance.access_log_rules)
    "terminal_status": gettext_lazy("terminal's status at that moment"),
    "due_at": gettext_lazy("loan due"),
    "lifted_at": gettext_lazy("declaration lifted at"),
    "valid_until": gettext_lazy("login ID valid until"),
    "first_failure_at": gettext_lazy("first failure at"),
    "failures": gettext_lazy("failed sign-ins in the window"),
    "window_seconds": gettext_lazy("window (seconds)"),
    "trigger_sign_in": gettext_lazy("sign-in that reached the threshold"),
}


def _location_names() -> dict[int, str]:
    return dict(Location.objects.values_list("pk", "name"))


def _path(location: Location | None, names: dict[int, str]) -> str:
    return location_path_label(location, names) if location else ""


# Stock-takes ----------------------------------------------------------------------------------


def _stocktake_or_404(request: HttpRequest, pk: int) -> StockTake:
    return get_object_or_404(selectors.stocktake_queryset(user=request.user), pk=pk)


@require_GET
@requires("compliance.view_stocktake")
def stocktake_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    rows = (
        selectors.stocktake_queryset(user=request.user)
        .annotate(
            open_discrepancies=Count(
                "discrepancies", filter=Q(discrepancies__status=Discrepancy.Status.OPEN)
            )
        )
        .order_by("-opened_at", "-pk")
    )
    if status in StockTakeStatus.values:
        rows = rows.filter(status=status)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "compliance/stocktake_list.html",
        {
            "page": page,
            "status": status,
            "statuses": StockTakeStatus.choices,
            "now": timezone.now(),
        },
    )


@require_http_methods(["GET", "POST"])
@requires("compliance.view_stocktake", "compliance.add_stocktake")
def stocktake_open(request: HttpRequest) -> HttpResponse:
    form = StockTakeOpenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            stocktake = stocktakes.stocktake_open(
                site=form.cleaned_data["site"],
                actor=request.user,
                reason=StockTakeReason.MANUAL,
                blind=form.cleaned_data["blind"],
                due_days=form.cleaned_data["due_days"],
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(
                request,
                _("A stock-take of %(site)s was opened.") % {"site": stocktake.site.name},
            )
            return redirect("compliance:stocktake_detail", pk=stocktake.pk)
    return render(request, "compliance/stocktake_open.html", {"form": form})


def _progress_rows(stocktake: StockTake, progress: dict) -> list[dict]:
    names = _location_names()
    locations = Location.objects.filter(pk__in=progress["per_location"]).order_by("path")
    return [
        {
            "location": location,
            "label": _path(location, names),
            "found": progress["per_location"][location.pk][0],
            "expected": progress["per_location"][location.pk][1],
        }
        for location in locations
    ]


def _summary(stocktake: StockTake) -> dict:
    """The summary as table rows: one column per kind found, locations without any left out."""
    summary = stocktakes.stocktake_summary(stocktake)
    kinds = [kind for kind in STOCKTAKE_KINDS if summary["per_kind"].get(kind)]
    rows = []
    for location, counts in summary["per_location"]:
        total = sum(counts.values())
        if total:
            rows.append(
                {
                    "location": location,
                    "cells": [counts.get(kind, 0) for kind in kinds],
                    "total": total,
                }
            )
    return {
        "kinds": [(kind, DiscrepancyKind(kind).label, summary["per_kind"][kind]) for kind in kinds],
        "rows": rows,
        "total": sum(summary["per_kind"].values()),
    }


@require_GET
@requires("compliance.view_stocktake")
def stocktake_detail(request: HttpRequest, pk: int) -> HttpResponse:
    stocktake = _stocktake_or_404(request, pk)
    context = {"stocktake": stocktake, "now": timezone.now()}
    if stocktake.status == StockTakeStatus.OPEN:
        # Counts only, even in a blind count: they tell how far the count is, not what to find.
        progress = stocktakes.stocktake_progress(stocktake)
        context["progress"] = progress
        context["progress_rows"] = _progress_rows(stocktake, progress)
    else:
        context["summary"] = _summary(stocktake)
        context["open_count"] = stocktake.discrepancies.filter(
            status=Discrepancy.Status.OPEN
        ).count()
    return render(request, "compliance/stocktake_detail.html", context)


BATCH_MODE = "batch"


def _scan_page(
    request: HttpRequest,
    stocktake: StockTake,
    location: Location | None,
    *,
    form: ScanForm | ScanBatchForm | None = None,
    last: Scan | None = None,
    batch: list[Scan] | None = None,
    status: int = 200,
) -> HttpResponse:
    progress = stocktakes.stocktake_progress(stocktake)
    mine = Scan.objects.filter(stocktake=stocktake, scanned_by=request.user)
    batch_mode = isinstance(form, ScanBatchForm) or (
        form is None and request.GET.get("mode") == BATCH_MODE
    )
    context = {
        "stocktake": stocktake,
        "location": location,
        "location_form": ScanLocationForm(
            initial={"location": location}, stocktake=stocktake, auto_id="choose_%s"
        ),
        "batch_mode": batch_mode,
        "form": form or (ScanBatchForm() if batch_mode else ScanForm()),
        "last": last,
        "last_message": RESULT_MESSAGES[last.result] if last else "",
        "batch": [(scan, RESULT_MESSAGES[scan.result]) for scan in batch or []],
        "batch_counts": [
            (ScanResult(result).label, n)
            for result, n in Counter(scan.result for scan in batch or []).most_common()
        ],
        "progress": progress,
        "recent": mine.select_related("location", "terminal__location")[:RECENT_SCANS],
        "has_scans": mine.filter(undone_at__isnull=True).exists(),
    }
    if location is not None:
        # A blind count still shows the progress bars: counts say how far the count is, not
        # which terminals to look for. Only the expected list itself is withheld.
        context["here"] = progress["per_location"].get(location.pk, (0, 0))
        if not stocktake.blind:
            context["expected_here"] = _expected_at(stocktake, location)
    return render(request, "compliance/scan.html", context, status=status)


def _expected_at(stocktake: StockTake, location: Location):
    """The snapshot's terminals at this location, each marked when someone found it here."""
    found = Scan.objects.filter(
        stocktake=stocktake,
        location=location,
        terminal=OuterRef("terminal"),
        result=ScanResult.EXPECTED_HERE,
        undone_at__isnull=True,
    )
    return (
        StockTakeExpectation.objects.filter(
            stocktake=stocktake, location=location, status__in=stocktakes.PRESENT_STATUSES
        )
        .select_related("terminal")
        .annotate(found=Exists(found))
        .order_by("terminal__asset_tag")
    )


@require_http_methods(["GET", "POST"])
@requires("compliance.view_stocktake", "compliance.add_scan")
def stocktake_scan(request: HttpRequest, pk: int) -> HttpResponse:
    """Made for a phone and for a keyboard-wedge scanner: the scanner types the tag and Enter."""
    stocktake = _stocktake_or_404(request, pk)
    if stocktake.status != StockTakeStatus.OPEN:
        messages.error(request, _("This stock-take is closed: no more scans."))
        return redirect("compliance:stocktake_detail", pk=stocktake.pk)
    chooser = ScanLocationForm(request.POST or request.GET, stocktake=stocktake)
    location = chooser.cleaned_data["location"] if chooser.is_valid() else None
    if request.method == "GET":
        last, batch = None, None
        mine = Scan.objects.filter(stocktake=stocktake, scanned_by=request.user)
        if location and request.GET.get("last", "").isdecimal():
            last = mine.select_related("terminal__location").filter(pk=request.GET["last"]).first()
        first, _sep, final = request.GET.get("batch", "").partition("-")
        if location and first.isdecimal() and final.isdecimal():
            batch = list(
                mine.filter(location=location, pk__gte=first, pk__lte=final)
                .select_related("terminal__location")
                .order_by("pk")
            )
        return _scan_page(request, stocktake, location, last=last, batch=batch)
    if request.POST.get("mode") == BATCH_MODE:
        return _scan_batch(request, stocktake, location)
    form = ScanForm(request.POST)
    if location is None:
        form.add_error(None, _("Choose the location first."))
        return _scan_page(request, stocktake, None, form=form, status=400)
    if form.is_valid():
        try:
            scan = stocktakes.scan_record(
                stocktake=stocktake,
                location=location,
                tag=form.cleaned_data["tag"],
                actor=request.user,
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            # Back to a GET page: reloading it never records the scan again.
            url = reverse("compliance:stocktake_scan", kwargs={"pk": stocktake.pk})
            return redirect(f"{url}?location={location.pk}&last={scan.pk}")
    return _scan_page(request, stocktake, location, form=form, status=400)


def _scan_batch(
    request: HttpRequest, stocktake: StockTake, location: Location | None
) -> HttpResponse:
    """The page's batch mode: the tags a scanner stored, one per line, each its own scan."""
    form = ScanBatchForm(request.POST)
    if location is None:
        form.add_error(None, _("Choose the location first."))
        return _scan_page(request, stocktake, None, form=form, status=400)
    if form.is_valid():
        try:
            scans = stocktakes.scan_record_batch(
                stocktake=stocktake, location=location, tags=form.tag_list(), actor=request.user
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            url = reverse("compliance:stocktake_scan", kwargs={"pk": stocktake.pk})
            ids = sorted(scan.pk for scan in scans)
            return redirect(
                f"{url}?location={location.pk}&mode={BATCH_MODE}&batch={ids[0]}-{ids[-1]}"
            )
    return _scan_page(request, stocktake, location, form=form, status=400)


@require_POST
@requires("compliance.view_stocktake", "compliance.add_scan")
def stocktake_undo(request: HttpRequest, pk: int) -> HttpResponse:
    stocktake = _stocktake_or_404(request, pk)
    try:
        scan = stocktakes.scan_undo_last(stocktake=stocktake, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("compliance:stocktake_detail", pk=stocktake.pk)
    if scan is None:
        messages.info(request, _("You have no scan to undo."))
    else:
        messages.success(
            request,
            _("The scan of %(tag)s at %(location)s was undone.")
            % {"tag": scan.tag, "location": scan.location.name},
        )
    url = reverse("compliance:stocktake_scan", kwargs={"pk": stocktake.pk})
    location = request.POST.get("location", "")
    return redirect(f"{url}?location={location}" if location.isdecimal() else url)


@require_http_methods(["GET", "POST"])
@requires("compliance.view_stocktake", "compliance.change_stocktake")
def stocktake_close(request: HttpRequest, pk: int) -> HttpResponse:
    stocktake = _stocktake_or_404(request, pk)
    if request.method == "POST":
        try:
            stocktake = stocktakes.stocktake_close(stocktake=stocktake, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                _("The stock-take of %(site)s was closed.") % {"site": stocktake.site.name},
            )
        return redirect("compliance:stocktake_detail", pk=stocktake.pk)
    if stocktake.status != StockTakeStatus.OPEN:
        return redirect("compliance:stocktake_detail", pk=stocktake.pk)
    per_kind = stocktakes.stocktake_findings_count(stocktake)
    progress = stocktakes.stocktake_progress(stocktake)
    return render(
        request,
        "compliance/stocktake_close.html",
        {
            "stocktake": stocktake,
            "progress": progress,
            "scan_count": stocktake.scans.filter(undone_at__isnull=True).count(),
            "preview": [(k.label, per_kind[k]) for k in STOCKTAKE_KINDS if k in per_kind],
            "preview_total": sum(per_kind.values()),
        },
    )


@require_GET
@requires("compliance.view_stocktake", "compliance.view_discrepancy")
def stocktake_report(request: HttpRequest, pk: int) -> HttpResponse:
    stocktake = _stocktake_or_404(request, pk)
    return render(
        request,
        "compliance/stocktake_report.html",
        {
            "stocktake": stocktake,
            "rows": stocktake_report_rows(stocktake),
            "summary": _summary(stocktake),
        },
    )


@require_GET
@requires("compliance.view_stocktake", "compliance.view_discrepancy")
def stocktake_report_csv(request: HttpRequest, pk: int) -> HttpResponse:
    stocktake = _stocktake_or_404(request, pk)
    return csv_download(
        StockTakeReportRowSerializer,
        stocktake_report_rows(stocktake),
        f"stocktake-{stocktake.pk}-report.csv",
    )


# Discrepancies --------------------------------------------------------------------------------


# (ordering key of DiscrepancyFilter, column heading); None: a column that cannot be sorted.
DISCREPANCY_LIST_COLUMNS = [
    ("kind", capfirst(gettext_lazy("kind"))),
    ("subject", capfirst(gettext_lazy("subject"))),
    (None, gettext_lazy("Found by")),
    ("location", capfirst(gettext_lazy("location"))),
    ("opened_at", capfirst(gettext_lazy("opened at"))),
    ("assignee", capfirst(gettext_lazy("assignee"))),
    ("status", capfirst(gettext_lazy("status"))),
]


@require_GET
@requires("compliance.view_discrepancy")
def discrepancy_list(request: HttpRequest) -> HttpResponse:
    data = request.GET.copy()
    # Officers come for what is still open; "All" (an empty status) shows the rest too.
    data.setdefault("status", Discrepancy.Status.OPEN)
    queryset = selectors.discrepancy_queryset(user=request.user)
    filterset = DiscrepancyFilter(data, queryset=queryset)
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "compliance/discrepancy_list.html",
        {
            "filter": filterset,
            "page": page,
            "now": timezone.now(),
            "columns": sort_columns(DISCREPANCY_LIST_COLUMNS, request.GET.get("ordering", "")),
        },
    )


def _discrepancy_or_404(request: HttpRequest, pk: int) -> Discrepancy:
    return get_object_or_404(selectors.discrepancy_queryset(user=request.user), pk=pk)


def _detail_rows(discrepancy: Discrepancy) -> list[tuple[str, str]]:
    """The finding's details in words: location ids become paths, statuses their labels."""
    names = None
    rows = []
    for key, value in discrepancy.details.items():
        if value in (None, "", []):
            continue
        if discrepancy.sign_in_id and key in access_log_rules.SHOWN_WITH_THE_SIGN_IN:
            continue  # in the sign-in's own section
        if key in access_log_rules.MOMENTS:
            value = format_iso_datetime(value)
        elif key == "terminal_status" and value in TerminalStatus.values:
            value = TerminalStatus(value).label
        elif key in ("recorded_location", "locations"):
            names = names or _location_names()
            pks = value if isinstance(value, list) else [value]
            found = Location.objects.filter(pk__in=pks).order_by("path")
            value = ", ".join(_path(location, names) for location in found)
        elif key in ("recorded_status", "status") and value in TerminalStatus.values:
            value = TerminalStatus(value).label
        rows.append((DETAIL_LABELS.get(key, key), value))
    return rows


def _evidence_name(evidence: DiscrepancyEvidence) -> str:
    return os.path.basename(evidence.file.name)


def _is_image(evidence: DiscrepancyEvidence) -> bool:
    return os.path.splitext(evidence.file.name)[1].lower() in INLINE_IMAGES


def _discrepancy_page(
    request: HttpRequest, discrepancy: Discrepancy, *, status: int = 200, **forms
) -> HttpResponse:
    user = request.user
    may_change = (
        user.has_perm("compliance.change_discrepancy")
        and discrepancy.status == Discrepancy.Status.OPEN
    )
    context = {
        "discrepancy": discrepancy,
        "detail_rows": _detail_rows(discrepancy),
        "expected_instead": access_log_rules.expected_instead(discrepancy),
        "location_label": _path(discrepancy.location, _location_names()),
        "may_change": may_change,
        "may_read_evidence": user.has_perm("compliance.view_discrepancyevidence"),
        "may_add_evidence": user.has_perm("compliance.add_discrepancyevidence"),
    }
    if context["may_read_evidence"]:
        context["evidence"] = [
            {"item": item, "name": _evidence_name(item), "image": _is_image(item)}
            for item in discrepancy.evidence.select_related("uploaded_by").order_by("uploaded_at")
        ]
    if context["may_add_evidence"]:
        context["evidence_form"] = forms.get("evidence_form") or EvidenceForm()
    if may_change:
        context["assign_form"] = forms.get("assign_form") or AssignForm(
            initial={"assignee": discrepancy.assignee}
        )
        context["resolve_form"] = forms.get("resolve_form") or ResolveForm(discrepancy=discrepancy)
    return render(request, "compliance/discrepancy_detail.html", context, status=status)


@require_GET
@requires("compliance.view_discrepancy")
def discrepancy_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _discrepancy_page(request, _discrepancy_or_404(request, pk))


@require_POST
@requires("compliance.view_discrepancy", "compliance.change_discrepancy")
def discrepancy_assign(request: HttpRequest, pk: int) -> HttpResponse:
    discrepancy = _discrepancy_or_404(request, pk)
    form = AssignForm(request.POST)
    if form.is_valid():
        assignee = form.cleaned_data["assignee"]
        stocktakes.discrepancy_assign(
            discrepancy=discrepancy, actor=request.user, assignee=assignee
        )
        if assignee:
            messages.success(
                request,
                _("Assigned to %(name)s.")
                % {"name": assignee.get_full_name() or assignee.get_username()},
            )
        else:
            messages.success(request, _("Nobody is assigned now."))
        return redirect("compliance:discrepancy_detail", pk=discrepancy.pk)
    return _discrepancy_page(request, discrepancy, assign_form=form, status=400)


# Outcomes that change more than the finding and cannot be taken back: asked for first.
IRREVERSIBLE_OUTCOMES = (
    DiscrepancyOutcome.LOST_OR_STOLEN,
    DiscrepancyOutcome.WRITTEN_OFF,
    DiscrepancyOutcome.ORPHAN_DELETED,
)


def _resolution_effects(discrepancy: Discrepancy, outcome: str) -> list[str]:
    """What compliance.services.discrepancy_resolve will do for this outcome, in words."""
    effects = [
        _("The finding is resolved as “%(outcome)s”.")
        % {"outcome": DiscrepancyOutcome(outcome).label}
    ]
    card, terminal = discrepancy.access_card, discrepancy.terminal
    if outcome == DiscrepancyOutcome.ORPHAN_DELETED:
        account = discrepancy.account
        effects.append(
            _("Login ID %(login_id)s is deleted on %(target)s.")
            % (
                {"login_id": account.login_id, "target": account.target_system.name}
                if account is not None
                else {
                    "login_id": discrepancy.details.get("login_id", ""),
                    "target": discrepancy.details.get("target_system", ""),
                }
            )
        )
    elif discrepancy.kind == DiscrepancyKind.CARD_NOT_RETURNED:
        if card is not None and outcome == DiscrepancyOutcome.LOST_OR_STOLEN:
            effects.append(
                _("Access card %(number)s is recorded as lost.") % {"number": card.card_number}
            )
        elif card is not None:
            effects.append(
                _("Access card %(number)s is written off (retired).") % {"number": card.card_number}
            )
    elif terminal is not None:
        accounts = selectors.discrepancy_resolve_summary(discrepancy=discrepancy)["accounts"]
        if outcome == DiscrepancyOutcome.LOST_OR_STOLEN:
            effects.append(
                ngettext(
                    "Terminal %(tag)s is recorded as lost and its %(n)d account is rotated.",
                    "Terminal %(tag)s is recorded as lost and its %(n)d accounts are rotated.",
                    accounts,
                )
                % {"tag": terminal.asset_tag, "n": accounts}
            )
        else:
            effects.append(
                ngettext(
                    "Terminal %(tag)s is written off (retired) and its %(n)d account is "
                    "deleted on its target system.",
                    "Terminal %(tag)s is written off (retired) and its %(n)d accounts are "
                    "deleted on their target systems.",
                    accounts,
                )
                % {"tag": terminal.asset_tag, "n": accounts}
            )
    return effects


def _confirm_resolution(
    request: HttpRequest, discrepancy: Discrepancy, outcome: str
) -> HttpResponse:
    return confirmation(
        request,
        action=_("resolve the finding %(subject)s as “%(outcome)s”")
        % {"subject": discrepancy.subject, "outcome": DiscrepancyOutcome(outcome).label},
        effects=_resolution_effects(discrepancy, outcome),
        cancel_url=reverse("compliance:discrepancy_detail", kwargs={"pk": discrepancy.pk}),
        button=_("Resolve"),
        title=_("Resolve the finding"),
    )


@require_POST
@requires("compliance.view_discrepancy", "compliance.change_discrepancy")
def discrepancy_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    discrepancy = _discrepancy_or_404(request, pk)
    form = ResolveForm(request.POST, discrepancy=discrepancy)
    if (
        form.is_valid()
        and form.cleaned_data["outcome"] in IRREVERSIBLE_OUTCOMES
        and discrepancy.status == Discrepancy.Status.OPEN  # a resolved one is refused below
        and not confirmed(request)
    ):
        return _confirm_resolution(request, discrepancy, form.cleaned_data["outcome"])
    if form.is_valid():
        try:
            discrepancy = stocktakes.discrepancy_resolve(
                discrepancy=discrepancy,
                actor=request.user,
                outcome=form.cleaned_data["outcome"],
                note=form.cleaned_data["note"],
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(
                request,
                _("%(subject)s was resolved: %(outcome)s.")
                % {"subject": discrepancy.subject, "outcome": discrepancy.get_outcome_display()},
            )
            stocktake = discrepancy.stocktake
            if stocktake:
                stocktake.refresh_from_db(fields=["status"])  # the service completed its own copy
            if stocktake and stocktake.status == StockTakeStatus.COMPLETED:
                messages.success(
                    request,
                    _("Every discrepancy of this stock-take is resolved: it is completed."),
                )
            return redirect("compliance:discrepancy_detail", pk=discrepancy.pk)
    return _discrepancy_page(request, discrepancy, resolve_form=form, status=400)


@require_POST
@requires("compliance.view_discrepancy", "compliance.add_discrepancyevidence")
def evidence_upload(request: HttpRequest, pk: int) -> HttpResponse:
    discrepancy = _discrepancy_or_404(request, pk)
    form = EvidenceForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            stocktakes.discrepancy_add_evidence(
                discrepancy=discrepancy, actor=request.user, file=form.cleaned_data["file"]
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(request, _("The evidence was attached."))
            return redirect("compliance:discrepancy_detail", pk=discrepancy.pk)
    return _discrepancy_page(request, discrepancy, evidence_form=form, status=400)


@never_cache
@require_GET
@requires("compliance.view_discrepancy", "compliance.view_discrepancyevidence")
def evidence_download(request: HttpRequest, pk: int) -> FileResponse:
    """The only way to evidence: MEDIA_ROOT has no public URL."""
    evidence = get_object_or_404(DiscrepancyEvidence, pk=pk)
    response = FileResponse(
        evidence.file.open("rb"),
        as_attachment=not _is_image(evidence),
        filename=_evidence_name(evidence),
    )
    # An uploaded file never runs as part of this site, whatever it contains.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@require_POST
@requires("compliance.view_discrepancy", "compliance.change_discrepancy")
def policy_checks_run(request: HttpRequest) -> HttpResponse:
    recorded = policy_checks.run_policy_checks()
    count = sum(recorded.values())
    if count:
        messages.success(
            request,
            ngettext(
                "The policy checks recorded %(count)d new or reopened discrepancy.",
                "The policy checks recorded %(count)d new or reopened discrepancies.",
                count,
            )
            % {"count": count},
        )
    else:
        messages.success(request, _("The policy checks found nothing new."))
    return redirect("compliance:discrepancy_list")
