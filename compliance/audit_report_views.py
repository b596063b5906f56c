"""Internal audit report pages: the list with the form that requests one, the report, its
printable view and a CSV file per section. Every page reads the stored CSV files
(compliance.audit_report), never the live tables."""

from datetime import timedelta
from typing import cast

from django import forms
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from compliance.audit_report import (
    MAX_PERIOD_DAYS,
    audit_report_manifest,
    audit_report_period_errors,
    audit_report_request,
    audit_report_verify,
    section_table,
    today_in_report_zone,
)
from compliance.models import AuditReport, AuditReportStatus
from core.errors import ApplicationError
from core.models import User
from core.web import apply_service_error, requires

PAGE_SIZE = 50
ROWS_ON_PAGE = 50  # per section on the report page; the CSV has them all
ROWS_PRINTED = 2000  # per section on the printable view


class AuditReportForm(forms.Form):
    period_start = forms.DateField(
        label=_("From"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    period_end = forms.DateField(
        label=_("To"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def clean(self):
        data = super().clean() or {}
        if "period_start" in data and "period_end" in data:
            for name, messages in audit_report_period_errors(
                data["period_start"], data["period_end"]
            ).items():
                self.add_error(name, messages)
        return data


def _last_month() -> dict:
    first_of_this_month = today_in_report_zone().replace(day=1)
    last_day = first_of_this_month - timedelta(days=1)
    return {"period_start": last_day.replace(day=1), "period_end": last_day}


@require_http_methods(["GET", "POST"])
@requires("compliance.view_auditreport")
def audit_report_list(request: HttpRequest) -> HttpResponse:
    may_produce = request.user.has_perm("compliance.add_auditreport")
    form = AuditReportForm(initial=_last_month())
    if request.method == "POST":
        if not may_produce:
            raise PermissionDenied
        form = AuditReportForm(request.POST)
        if form.is_valid():
            try:
                report = audit_report_request(
                    actor=cast(User, request.user),  # signed in: @requires
                    period_start=form.cleaned_data["period_start"],
                    period_end=form.cleaned_data["period_end"],
                )
            except ApplicationError as exc:
                apply_service_error(form, exc)
            else:
                return redirect("compliance:audit_report_detail", pk=report.pk)
    reports = AuditReport.objects.select_related("produced_by").order_by("-requested_at", "-pk")
    page = Paginator(reports, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "compliance/audit_reports/list.html",
        {
            "form": form,
            "page": page,
            "may_produce": may_produce,
            "max_days": MAX_PERIOD_DAYS,
        },
    )


def _report(pk: int) -> AuditReport:
    return get_object_or_404(AuditReport.objects.select_related("produced_by"), pk=pk)


def _context(report: AuditReport, *, limit: int) -> dict:
    ready = report.status == AuditReportStatus.READY
    sections = list(report.sections.order_by("position")) if ready else []
    return {
        "report": report,
        "producing": report.status == AuditReportStatus.PRODUCING,
        "tables": [section_table(section, limit=limit) for section in sections],
        "verification": audit_report_verify(report),
        "manifest": audit_report_manifest(report) if ready else "",
    }


@require_GET
@requires("compliance.view_auditreport")
def audit_report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    report = _report(pk)
    return render(
        request, "compliance/audit_reports/detail.html", _context(report, limit=ROWS_ON_PAGE)
    )


@require_GET
@requires("compliance.view_auditreport")
def audit_report_print(request: HttpRequest, pk: int) -> HttpResponse:
    report = _report(pk)
    if report.status != AuditReportStatus.READY:
        return redirect("compliance:audit_report_detail", pk=report.pk)
    return render(
        request, "compliance/audit_reports/print.html", _context(report, limit=ROWS_PRINTED)
    )


@require_GET
@requires("compliance.view_auditreport")
def audit_report_csv(request: HttpRequest, pk: int, section: str) -> HttpResponse:
    """The section's CSV file exactly as stored and hashed: `sha256sum` of the download is the
    section's digest shown on the report."""
    report = _report(pk)
    stored = report.sections.filter(name=section).first()
    if stored is None:
        raise Http404
    response = HttpResponse(stored.csv.encode("utf-8"), content_type="text/csv; charset=utf-8")
    filename = f"audit-report-{report.pk}-{stored.name}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
