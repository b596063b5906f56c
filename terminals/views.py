"""Inventory pages: each view checks permissions, reads via selectors and writes via services."""

import segno
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods

from core.audit import events_about
from core.errors import ApplicationError
from core.identifiers import normalise_identifier
from core.models import AuditEvent
from core.web import apply_service_error, requires
from terminals import csv_io, selectors, services
from terminals.filters import TerminalFilter
from terminals.forms import (
    AccessCardFilter,
    CsvImportForm,
    TerminalCreateForm,
    TerminalDescriptionForm,
    TerminalListFilter,
    TerminalMoveForm,
    TerminalStatusForm,
    location_path_label,
)
from terminals.models import Location, Terminal

PAGE_SIZE = 50

# (ordering key of TerminalFilter, column heading); None: a column that cannot be sorted.
LIST_COLUMNS = [
    ("asset_tag", capfirst(gettext_lazy("asset tag"))),
    ("serial_number", capfirst(gettext_lazy("serial number"))),
    ("hostname", capfirst(gettext_lazy("hostname"))),
    (None, capfirst(gettext_lazy("model"))),
    ("status", capfirst(gettext_lazy("status"))),
    ("location", capfirst(gettext_lazy("location"))),
    (None, capfirst(gettext_lazy("custodian"))),
    ("updated_at", capfirst(gettext_lazy("updated"))),
]


def _terminal_or_404(request: HttpRequest, asset_tag: str) -> Terminal:
    return get_object_or_404(
        selectors.terminal_queryset(user=request.user), asset_tag=normalise_identifier(asset_tag)
    )


def _sort_columns(current: str) -> list[dict]:
    """Each heading links to sorting by it, ascending first and descending on a second click."""
    columns = []
    for key, label in LIST_COLUMNS:
        column = {"key": key, "label": label, "next": key, "direction": ""}
        if key and current == key:
            column.update(next=f"-{key}", direction="asc")
        elif key and current == f"-{key}":
            column["direction"] = "desc"
        columns.append(column)
    return columns


def _without_page(request: HttpRequest) -> str:
    """The list's search, filters and sorting as a query string: what an export should repeat."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@require_GET
@requires("terminals.view_terminal")
def terminal_list(request: HttpRequest) -> HttpResponse:
    filterset = TerminalListFilter(
        request.GET, queryset=selectors.terminal_queryset(user=request.user)
    )
    rows = filterset.qs.select_related("location__site")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "terminals/terminal_list.html",
        {
            "filter": filterset,
            "page": page,
            "columns": _sort_columns(request.GET.get("ordering", "")),
            "export_query": _without_page(request),
        },
    )


@require_GET
@requires("terminals.view_terminal")
def terminal_export(request: HttpRequest) -> StreamingHttpResponse:
    filterset = TerminalFilter(request.GET, queryset=selectors.terminal_queryset(user=request.user))
    response = StreamingHttpResponse(
        csv_io.export_terminals_csv(filterset.qs), content_type="text/csv; charset=utf-8"
    )
    filename = f"terminals-{timezone.localdate():%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
@requires("terminals.view_terminal")
def terminal_detail(request: HttpRequest, asset_tag: str) -> HttpResponse:
    terminal = _terminal_or_404(request, asset_tag)
    ancestor_pks = [int(pk) for pk in terminal.location.path.strip("/").split("/")]
    return render(
        request,
        "terminals/terminal_detail.html",
        {
            "terminal": terminal,
            "location_path": Location.objects.filter(pk__in=ancestor_pks).order_by("path"),
            "warnings": terminal.storage_warnings(),
            "cards": terminal.access_cards.select_related("location"),
            "history": selectors.terminal_history(terminal=terminal),
            "transitions": [
                (status, Terminal.Status(status).label)
                for status in services.manual_transitions_from(terminal.status)
            ],
        },
    )


@require_http_methods(["GET", "POST"])
@requires("terminals.view_terminal", "terminals.add_terminal")
def terminal_create(request: HttpRequest) -> HttpResponse:
    form = TerminalCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            terminal = services.terminal_create(
                actor=request.user,
                asset_tag=data["asset_tag"],
                location=data["location"],
                custodian=data["custodian"] or data["location"].custodian,
                serial_number=data["serial_number"],
                hostname=data["hostname"],
                model_name=data["model_name"],
                notes=data["notes"],
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(request, _("Terminal %(tag)s was registered.") % {"tag": terminal})
            return redirect("terminals:detail", asset_tag=terminal.asset_tag)
    return render(
        request, "terminals/terminal_form.html", {"form": form, "title": _("Add terminal")}
    )


@require_http_methods(["GET", "POST"])
@requires("terminals.view_terminal", "terminals.change_terminal")
def terminal_edit(request: HttpRequest, asset_tag: str) -> HttpResponse:
    terminal = _terminal_or_404(request, asset_tag)
    initial = {
        "serial_number": terminal.serial_number,
        "hostname": terminal.hostname,
        "model_name": terminal.model_name,
        "custodian": terminal.custodian,
        "notes": terminal.notes,
    }
    form = TerminalDescriptionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.terminal_update(terminal=terminal, actor=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(request, _("Terminal %(tag)s was saved.") % {"tag": terminal})
            return redirect("terminals:detail", asset_tag=terminal.asset_tag)
    return render(
        request,
        "terminals/terminal_form.html",
        {"form": form, "terminal": terminal, "title": _("Edit %(tag)s") % {"tag": terminal}},
    )


@require_http_methods(["GET", "POST"])
@requires("terminals.view_terminal", "terminals.change_terminal")
def terminal_move(request: HttpRequest, asset_tag: str) -> HttpResponse:
    terminal = _terminal_or_404(request, asset_tag)
    form = TerminalMoveForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.terminal_move(
                terminal=terminal,
                actor=request.user,
                to_location=form.cleaned_data["to_location"],
                reason=form.cleaned_data["reason"],
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(request, _("Terminal %(tag)s was moved.") % {"tag": terminal})
            return redirect("terminals:detail", asset_tag=terminal.asset_tag)
    return render(
        request,
        "terminals/terminal_form.html",
        {"form": form, "terminal": terminal, "title": _("Move %(tag)s") % {"tag": terminal}},
    )


@require_http_methods(["GET", "POST"])
@requires("terminals.view_terminal", "terminals.change_terminal")
def terminal_status(request: HttpRequest, asset_tag: str) -> HttpResponse:
    terminal = _terminal_or_404(request, asset_tag)
    form = TerminalStatusForm(
        request.POST or None, terminal=terminal, initial={"to_status": request.GET.get("to")}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        change = services.MANUAL_TRANSITIONS[data["to_status"]]
        extra = {"to_location": data["to_location"]} if data["to_location"] else {}
        try:
            change(terminal=terminal, actor=request.user, reason=data["reason"], **extra)
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(
                request,
                _("Terminal %(tag)s is now %(status)s.")
                % {"tag": terminal, "status": Terminal.Status(data["to_status"]).label},
            )
            return redirect("terminals:detail", asset_tag=terminal.asset_tag)
    return render(
        request,
        "terminals/terminal_form.html",
        {
            "form": form,
            "terminal": terminal,
            "title": _("Change the status of %(tag)s") % {"tag": terminal},
        },
    )


@require_GET
@requires("terminals.view_terminal")
def terminal_labels(request: HttpRequest) -> HttpResponse:
    tags = list(dict.fromkeys(request.GET.getlist("tag")))
    found = {
        terminal.asset_tag: terminal
        for terminal in selectors.terminal_queryset(user=request.user).filter(asset_tag__in=tags)
    }
    labels = [
        {
            "terminal": found[tag],
            # segno writes only path data from the tag, never the tag as markup: safe to inline.
            "qr": mark_safe(segno.make(tag, micro=False).svg_inline(scale=4)),  # noqa: S308
        }
        for tag in tags
        if tag in found
    ]
    missing = [tag for tag in tags if tag not in found]
    return render(request, "terminals/labels.html", {"labels": labels, "missing": missing})


@require_GET
@requires("terminals.view_location")
def location_tree(request: HttpRequest) -> HttpResponse:
    rows = selectors.location_tree(user=request.user)
    return render(request, "terminals/location_tree.html", {"rows": rows})


@require_GET
@requires("terminals.view_accesscard")
def card_list(request: HttpRequest) -> HttpResponse:
    filterset = AccessCardFilter(
        request.GET, queryset=selectors.access_card_queryset(user=request.user)
    )
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "terminals/card_list.html", {"filter": filterset, "page": page})


@require_GET
@requires("terminals.view_accesscard")
def card_detail(request: HttpRequest, card_number: str) -> HttpResponse:
    card = get_object_or_404(
        selectors.access_card_queryset(user=request.user),
        card_number=normalise_identifier(card_number),
    )
    location_label = ""
    if card.location is not None:
        names = dict(Location.objects.values_list("pk", "name"))
        location_label = location_path_label(card.location, names)
    # The card's history is part of the audit log: only roles that read the log see it.
    can_read_events = request.user.has_perm("core.view_auditevent")
    events = events_about(card).order_by("-seq") if can_read_events else AuditEvent.objects.none()
    return render(
        request,
        "terminals/card_detail.html",
        {
            "card": card,
            "location_label": location_label,
            "events": events,
            "can_read_events": can_read_events,
        },
    )


@require_http_methods(["GET", "POST"])
@requires("terminals.view_terminal", "terminals.add_terminal")
def csv_import(request: HttpRequest) -> HttpResponse:
    form = CsvImportForm(request.POST or None, request.FILES or None)
    row_errors: list[csv_io.RowError] = []
    if request.method == "POST" and form.is_valid():
        kind = form.cleaned_data["kind"]
        if kind == CsvImportForm.LOCATIONS and not request.user.has_perm("terminals.add_location"):
            raise PermissionDenied
        importer = (
            csv_io.import_locations_csv
            if kind == CsvImportForm.LOCATIONS
            else csv_io.import_terminals_csv
        )
        try:
            created = importer(actor=request.user, data=form.cleaned_data["file"].read())
        except csv_io.CsvImportError as exc:
            row_errors = exc.errors
            form.add_error(None, _("Nothing was imported: correct the rows below and try again."))
        else:
            count = len(created)
            messages.success(
                request,
                ngettext("%(count)d row was imported.", "%(count)d rows were imported.", count)
                % {"count": count},
            )
            return redirect("terminals:import")
    return render(
        request,
        "terminals/import.html",
        {
            "form": form,
            "row_errors": row_errors,
            "terminal_columns": csv_io.TERMINAL_COLUMNS,
            "location_columns": csv_io.LOCATION_COLUMNS,
        },
    )
