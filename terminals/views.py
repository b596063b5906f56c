"""Inventory pages: each view checks permissions, reads via selectors and writes via services."""

import base64

import segno
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods

from core.audit import events_about
from core.errors import ApplicationError
from core.filters import sort_columns
from core.identifiers import normalise_identifier
from core.models import AuditEvent
from core.web import apply_service_error, confirmation, confirmed, requires
from terminals import csv_io, selectors, services
from terminals.filters import TerminalFilter
from terminals.forms import (
    STATUSES_NEEDING_REASON,
    AccessCardCreateForm,
    AccessCardEditForm,
    AccessCardFilter,
    AccessCardStatusForm,
    CsvImportForm,
    LocationCreateForm,
    LocationEditForm,
    TerminalCreateForm,
    TerminalDescriptionForm,
    TerminalListFilter,
    TerminalMoveForm,
    TerminalStatusForm,
    location_path_label,
)
from terminals.models import AccessCard, Location, Terminal

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
            "columns": sort_columns(LIST_COLUMNS, request.GET.get("ordering", "")),
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
            "history": selectors.terminal_timeline(terminal=terminal),
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
                addresses=data["addresses"],
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
        "addresses": "\n".join(terminal.addresses.values_list("address", flat=True)),
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
        if data["to_status"] in STATUSES_NEEDING_REASON and not confirmed(request):
            return _confirm_terminal_status(request, terminal, data["to_status"])
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
            "loan_holds": selectors.terminal_loan_holds(terminal=terminal),
        },
    )


def _confirm_terminal_status(request: HttpRequest, terminal: Terminal, to_status: str):
    """Lost and retired are for good: say what will happen before it does."""
    cancel_url = reverse("terminals:detail", args=[terminal.asset_tag])
    if to_status == Terminal.Status.LOST:
        return confirmation(
            request,
            action=_("mark terminal %(tag)s lost") % {"tag": terminal},
            effects=[
                _("This terminal will be marked lost."),
                _(
                    "If it turns up, it goes to maintenance to be inspected before it is "
                    "stored again."
                ),
            ],
            cancel_url=cancel_url,
            button=_("Mark lost"),
            title=_("Mark %(tag)s lost") % {"tag": terminal},
        )
    return confirmation(
        request,
        action=_("retire terminal %(tag)s") % {"tag": terminal},
        effects=[
            _("This terminal will be retired."),
            _("Its accounts will be deleted on their target systems."),
        ],
        cancel_url=cancel_url,
        button=_("Retire"),
        title=_("Retire %(tag)s") % {"tag": terminal},
    )


@require_GET
@requires("terminals.view_terminal")
def terminal_labels(request: HttpRequest) -> HttpResponse:
    tags = list(dict.fromkeys(normalise_identifier(tag) for tag in request.GET.getlist("tag")))
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
    events = events_about(card).order_by("-id") if can_read_events else AuditEvent.objects.none()
    return render(
        request,
        "terminals/card_detail.html",
        {
            "card": card,
            "card_transitions": [
                (status, AccessCard.Status(status).label)
                for status in services.manual_card_transitions_from(card.status)
            ],
            "location_label": location_label,
            "events": events,
            "can_read_events": can_read_events,
        },
    )


# Locations ------------------------------------------------------------------------------------

# The kind a new place inside a parent usually has: one level deeper.
_CHILD_KIND = {
    Location.Kind.SITE: Location.Kind.BUILDING,
    Location.Kind.BUILDING: Location.Kind.FLOOR,
    Location.Kind.FLOOR: Location.Kind.ROOM,
    Location.Kind.ROOM: Location.Kind.CABINET,
}


@require_http_methods(["GET", "POST"])
@requires("terminals.view_location", "terminals.add_location")
def location_create(request: HttpRequest) -> HttpResponse:
    initial: dict = {"secured": True}
    parent_pk = request.GET.get("parent", "")
    parent = Location.objects.filter(pk=int(parent_pk)).first() if parent_pk.isdecimal() else None
    if parent is not None:
        initial.update(parent=parent, kind=_CHILD_KIND.get(Location.Kind(parent.kind), ""))
    form = LocationCreateForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            location = services.location_create(
                actor=request.user,
                code=data["code"],
                name=data["name"],
                kind=data["kind"],
                parent=data["parent"],
                custodian=data["custodian"],
                secured=data["secured"],
                address=data["address"],
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(
                request, _("Location %(location)s was added.") % {"location": location}
            )
            return redirect(f"{reverse('terminals:locations')}#location-{location.code}")
    return render(
        request,
        "terminals/location_form.html",
        {"form": form, "title": _("Add location")},
    )


@require_http_methods(["GET", "POST"])
@requires("terminals.view_location", "terminals.change_location")
def location_edit(request: HttpRequest, code: str) -> HttpResponse:
    location = get_object_or_404(Location.objects.select_related("custodian"), code=code)
    initial = {
        "name": location.name,
        "custodian": location.custodian,
        "secured": location.secured,
        "address": location.address,
        "stocktake_interval_days": location.stocktake_interval_days,
    }
    form = LocationEditForm(request.POST or None, initial=initial, location=location)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.location_update(
                location=location,
                actor=request.user,
                name=data["name"],
                custodian=data["custodian"],
                secured=data["secured"],
                address=data["address"],
                stocktake_interval_days=data.get("stocktake_interval_days"),
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(
                request, _("Location %(location)s was saved.") % {"location": location}
            )
            return redirect(f"{reverse('terminals:locations')}#location-{location.code}")
    return render(
        request,
        "terminals/location_form.html",
        {
            "form": form,
            "location": location,
            "title": _("Edit %(location)s") % {"location": location},
        },
    )


# Access cards: adding, editing and changing status by hand -------------------------------------


def _card_or_404(request: HttpRequest, card_number: str) -> AccessCard:
    return get_object_or_404(
        selectors.access_card_queryset(user=request.user),
        card_number=normalise_identifier(card_number),
    )


@require_http_methods(["GET", "POST"])
@requires("terminals.view_accesscard", "terminals.add_accesscard")
def card_create(request: HttpRequest) -> HttpResponse:
    form = AccessCardCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            card = services.access_card_create(actor=request.user, **data)
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(request, _("Access card %(number)s was added.") % {"number": card})
            return redirect("terminals:card_detail", card_number=card.card_number)
    return render(
        request, "terminals/card_form.html", {"form": form, "title": _("Add access card")}
    )


@require_http_methods(["GET", "POST"])
@requires("terminals.view_accesscard", "terminals.change_accesscard")
def card_edit(request: HttpRequest, card_number: str) -> HttpResponse:
    card = _card_or_404(request, card_number)
    initial = {
        "location": card.location,
        "terminal": card.terminal.asset_tag if card.terminal else "",
        "notes": card.notes,
    }
    form = AccessCardEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.access_card_update(card=card, actor=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(request, _("Access card %(number)s was saved.") % {"number": card})
            return redirect("terminals:card_detail", card_number=card.card_number)
    return render(
        request,
        "terminals/card_form.html",
        {"form": form, "card": card, "title": _("Edit %(number)s") % {"number": card}},
    )


@require_http_methods(["GET", "POST"])
@requires("terminals.view_accesscard", "terminals.change_accesscard")
def card_status(request: HttpRequest, card_number: str) -> HttpResponse:
    card = _card_or_404(request, card_number)
    form = AccessCardStatusForm(
        request.POST or None, card=card, initial={"to_status": request.GET.get("to")}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        to_status = data["to_status"]
        if to_status in services.CARD_STATUSES_NEEDING_REASON and not confirmed(request):
            return _confirm_card_status(request, card, to_status)
        try:
            services.access_card_change_status(
                card=card, actor=request.user, to_status=to_status, reason=data["reason"]
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(
                request,
                _("Access card %(number)s is now %(status)s.")
                % {"number": card, "status": AccessCard.Status(to_status).label},
            )
            return redirect("terminals:card_detail", card_number=card.card_number)
    return render(
        request,
        "terminals/card_form.html",
        {
            "form": form,
            "card": card,
            "title": _("Change the status of %(number)s") % {"number": card},
            "loan_holds": services.access_card_loan_holds(card),
        },
    )


def _confirm_card_status(request: HttpRequest, card: AccessCard, to_status: str):
    """Lost and retired are for good: say what will happen before it does."""
    cancel_url = reverse("terminals:card_detail", args=[card.card_number])
    if to_status == AccessCard.Status.LOST:
        return confirmation(
            request,
            action=_("mark access card %(number)s lost") % {"number": card},
            effects=[
                _("This card will be marked lost."),
                _("If it turns up, return it to storage: that is recorded as a new change."),
            ],
            cancel_url=cancel_url,
            button=_("Mark lost"),
            title=_("Mark %(number)s lost") % {"number": card},
        )
    return confirmation(
        request,
        action=_("retire access card %(number)s") % {"number": card},
        effects=[_("This card will be retired and can never be lent again.")],
        cancel_url=cancel_url,
        button=_("Retire"),
        title=_("Retire %(number)s") % {"number": card},
    )


@require_http_methods(["GET", "POST"])
@requires("terminals.view_terminal", "terminals.add_terminal")
def csv_import(request: HttpRequest) -> HttpResponse:
    """Step 1: upload. A terminal file is previewed (nothing written) and kept in the session
    for step 2, the apply button of the preview; a location file is imported at once."""
    if request.method == "POST" and "token" in request.POST:
        return _csv_import_apply(request)
    form = CsvImportForm(request.POST or None, request.FILES or None)
    row_errors: list[csv_io.RowError] = []
    if request.method == "GET":
        request.session.pop(_PENDING_IMPORT, None)
    if request.method == "POST" and form.is_valid():
        kind = form.cleaned_data["kind"]
        if kind == CsvImportForm.LOCATIONS and not request.user.has_perm("terminals.add_location"):
            raise PermissionDenied
        data = form.cleaned_data["file"].read()
        try:
            if kind == CsvImportForm.TERMINALS:
                preview = csv_io.preview_terminals_csv(actor=request.user, data=data)
                return _csv_import_preview(request, preview, data)
            created = csv_io.import_locations_csv(actor=request.user, data=data)
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
            "terminal_columns": csv_io.TERMINAL_COLUMNS + csv_io.TERMINAL_EXPORT_ONLY_COLUMNS,
            "location_columns": csv_io.LOCATION_COLUMNS,
        },
    )


# The previewed terminal file, waiting for its apply button: {"token": ..., "data": base64}.
_PENDING_IMPORT = "terminals.csv_import"


def _csv_import_preview(
    request: HttpRequest,
    preview: csv_io.TerminalImportPreview,
    data: bytes,
    *,
    notice: str = "",
    status: int = 200,
) -> HttpResponse:
    if preview.can_apply:
        request.session[_PENDING_IMPORT] = {
            "token": preview.token,
            "data": base64.b64encode(data).decode("ascii"),
        }
    else:
        request.session.pop(_PENDING_IMPORT, None)
    listed = [row for row in preview.rows if row.outcome != csv_io.UNCHANGED]
    unchanged = [row for row in preview.rows if row.outcome == csv_io.UNCHANGED]
    return render(
        request,
        "terminals/import_preview.html",
        {
            "preview": preview,
            "counts": preview.counts,
            "listed": listed,
            "unchanged": unchanged,
            "notice": notice,
        },
        status=status,
    )


def _csv_import_apply(request: HttpRequest) -> HttpResponse:
    """Step 2: apply the previewed file, only if the file and the inventory are as previewed."""
    pending = request.session.get(_PENDING_IMPORT)
    token = request.POST.get("token", "")
    if not pending or pending.get("token") != token:
        messages.error(
            request,
            _(
                "This preview is no longer open (it was applied, or another file was "
                "uploaded since). Upload the file again."
            ),
        )
        return redirect("terminals:import")
    data = base64.b64decode(pending["data"])
    try:
        result = csv_io.apply_terminals_csv(actor=request.user, data=data, token=token)
    except csv_io.ImportPreviewOutdated as exc:
        return _csv_import_preview(request, exc.preview, data, notice=exc.message, status=409)
    except csv_io.CsvImportError as exc:
        # Another writer got in between (a tag created meanwhile): show what is wrong now.
        request.session.pop(_PENDING_IMPORT, None)
        form = CsvImportForm()
        form.add_error(None, _("Nothing was imported: correct the rows below and try again."))
        return render(
            request,
            "terminals/import.html",
            {
                "form": form,
                "row_errors": exc.errors,
                "terminal_columns": csv_io.TERMINAL_COLUMNS + csv_io.TERMINAL_EXPORT_ONLY_COLUMNS,
                "location_columns": csv_io.LOCATION_COLUMNS,
            },
            status=409,
        )
    request.session.pop(_PENDING_IMPORT, None)
    messages.success(
        request,
        _(
            "The file was imported: %(created)d created, %(updated)d changed, "
            "%(unchanged)d unchanged."
        )
        % {
            "created": len(result.created),
            "updated": len(result.updated),
            "unchanged": result.unchanged,
        },
    )
    return redirect("terminals:import")
