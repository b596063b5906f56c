"""Access-log pages: the ingestions with an upload form, one ingestion's progress and malformed
lines, the sign-ins read (filtered as in the API), and each target system's mapping. Thin: the
work is compliance.access_logs'."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from compliance.access_logs.exports import MAX_CSV_ROWS, SignInRowSerializer
from compliance.access_logs.forms import AccessLogMappingForm, AccessLogUploadForm
from compliance.access_logs.ingestion import (
    access_log_ingestion_create,
    access_log_mapping_update,
    mapping_of,
)
from compliance.access_logs.selectors import (
    SignInFilter,
    ingestion_list,
    latest_first,
    sign_in_list,
)
from compliance.models import IngestionSource, IngestionStatus
from core.errors import ApplicationError
from core.spreadsheets import csv_download
from core.web import apply_service_error, requires
from credentials.models import TargetSystem

PAGE_SIZE = 50
# While the worker reads, the ingestion's page reloads itself this often (seconds).
REFRESH_SECONDS = 3
UPLOAD = "compliance.add_accesslogingestion"


@require_http_methods(["GET", "POST"])
@requires("compliance.view_accesslogingestion")
def access_log_list(request: HttpRequest) -> HttpResponse:
    may_upload = request.user.has_perm(UPLOAD)
    form = AccessLogUploadForm(request.POST or None, request.FILES or None) if may_upload else None
    if request.method == "POST":
        if form is None:
            raise PermissionDenied
        if form.is_valid():
            data = form.cleaned_data
            try:
                ingestion = access_log_ingestion_create(
                    actor=request.user,
                    target_system=data["target"],
                    format=data["format"],
                    file=data["file"],
                    source=IngestionSource.UPLOAD,
                    file_name=data["file"].name,
                )
            except ApplicationError as exc:
                apply_service_error(form, exc)
            else:
                messages.success(request, _("The log was received; it is read in the background."))
                return redirect("compliance:access_log_detail", pk=ingestion.pk)
    page = Paginator(ingestion_list(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "compliance/access_logs/list.html",
        {
            "page": page,
            "form": form,
            "targets": TargetSystem.objects.order_by("code"),
        },
    )


@require_GET
@requires("compliance.view_accesslogingestion")
def access_log_detail(request: HttpRequest, pk: int) -> HttpResponse:
    ingestion = get_object_or_404(ingestion_list(), pk=pk)
    reading = ingestion.status in (IngestionStatus.QUEUED, IngestionStatus.RUNNING)
    return render(
        request,
        "compliance/access_logs/detail.html",
        {
            "ingestion": ingestion,
            "reading": reading,
            "refresh_seconds": REFRESH_SECONDS,
            "unlisted": max(0, ingestion.malformed - len(ingestion.problems)),
        },
    )


@require_GET
@requires("compliance.view_signinevent")
def sign_in_list_page(request: HttpRequest) -> HttpResponse:
    """The sign-ins, filtered; `?download=csv` gives the same rows (at most MAX_CSV_ROWS) as CSV."""
    filterset = SignInFilter(request.GET, queryset=latest_first(sign_in_list()))
    rows = filterset.qs if filterset.is_valid() else sign_in_list().none()
    if request.GET.get("download") == "csv" and filterset.is_valid():
        return csv_download(SignInRowSerializer, rows[:MAX_CSV_ROWS], "sign-ins.csv")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "compliance/access_logs/sign_ins.html",
        {"filter": filterset, "page": page},
    )


@require_http_methods(["GET", "POST"])
@requires("compliance.view_accesslogmapping", "credentials.view_targetsystem")
def access_log_mapping(request: HttpRequest, code: str) -> HttpResponse:
    target = get_object_or_404(TargetSystem, code=code)
    mapping = mapping_of(target)
    may_edit = request.user.has_perm("compliance.change_accesslogmapping")
    if request.method == "POST" and not may_edit:
        raise PermissionDenied
    form = AccessLogMappingForm(request.POST or None, instance=mapping)
    if not may_edit:
        for field in form.fields.values():
            field.disabled = True
    if request.method == "POST" and form.is_valid():
        try:
            access_log_mapping_update(
                target_system=target,
                actor=request.user,
                **{name: form.cleaned_data[name] for name in AccessLogMappingForm.Meta.fields},
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(
                request, _("The access log mapping of %(target)s was saved.") % {"target": target}
            )
            return redirect("compliance:access_log_mapping", code=target.code)
    return render(
        request,
        "compliance/access_logs/mapping.html",
        {"target": target, "mapping": mapping, "form": form, "may_edit": may_edit},
    )
