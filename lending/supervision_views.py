"""Contractor supervision pages (委託先の監督): the contractors' states, each contractor's page
(reports, trainings, audits, exceptions) and the forms that record them. Security officers see
and act on every contractor; a contractor's users see their own and submit its yearly report.
Reads through lending.supervision's selectors, writes through its services."""

import os

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import ApplicationError
from core.models import Organization
from core.web import apply_service_error, requires
from lending import supervision
from lending.models import (
    ContractorAudit,
    Declaration,
    DeclarationKind,
    DeclarationStatus,
    ReportOutcome,
)
from lending.supervision_forms import (
    ContractorAuditForm,
    ContractorReportForm,
    FollowUpForm,
    OperatorTrainingForm,
    ReviewForm,
    SupervisionExceptionForm,
    UndertakingForm,
)

# The badge of each state, in the colours the other pages use for good, warning and bad.
STATE_CSS = {
    supervision.CURRENT: "req-approved",
    supervision.EXPIRING: "loan-open",
    supervision.EXPIRED: "req-rejected",
    supervision.MISSING: "req-rejected",
}


def _contractor_or_404(request: HttpRequest, code: str) -> Organization:
    """A contractor the user may read (another organization's answers 404, as if absent)."""
    return get_object_or_404(supervision.supervised_contractors(user=request.user), code=code)


def _active_disasters():
    return Declaration.objects.filter(
        status=DeclarationStatus.ACTIVE, kind=DeclarationKind.DISASTER
    ).order_by("-declared_at")


def _page(request: HttpRequest, contractor: Organization, *, status: int = 200, **forms):
    data = supervision.supervision_status(contractor=contractor)
    for row in data["operators"]:
        row["css"] = STATE_CSS[row["state"]]
        row["label"] = supervision.STATE_LABELS[row["state"]]
    checklist = dict(supervision.CHECKLIST)
    for report in data["reports"]:
        report.answer_rows = [  # type: ignore[attr-defined]
            (checklist.get(code, code), answer) for code, answer in report.answers.items()
        ]
    return render(
        request,
        "lending/supervision/detail.html",
        {
            **data,
            "report_css": STATE_CSS[data["report_state"]],
            "may_submit": request.user.has_perm("lending.add_contractorreport"),
            "may_review": request.user.has_perm("lending.change_contractorreport"),
            "may_grant": request.user.has_perm("lending.add_supervisionexception")
            and _active_disasters().exists(),
            "review_form": forms.get("review_form"),
            "review_pk": forms.get("review_pk"),
            "follow_up_form": forms.get("follow_up_form") or FollowUpForm(),
            "undertaking_form": forms.get("undertaking_form") or UndertakingForm(),
            "blank_review_form": ReviewForm(),
        },
        status=status,
    )


@require_GET
@requires("lending.view_contractorreport")
def supervision_list(request: HttpRequest) -> HttpResponse:
    """Every contractor and the state of its yearly report; a contractor's user goes straight
    to their own organization's page."""
    contractors = list(supervision.supervised_contractors(user=request.user))
    if not request.user.has_perm("lending.oversee_lending"):
        if len(contractors) == 1:
            return redirect("lending:supervision", code=contractors[0].code)
        raise Http404
    states = supervision.contractor_states(contractors=contractors)
    rows = [
        {
            "contractor": contractor,
            "state": states[contractor.pk],
            "label": supervision.STATE_LABELS[states[contractor.pk]],
            "css": STATE_CSS[states[contractor.pk]],
        }
        for contractor in contractors
    ]
    return render(request, "lending/supervision/list.html", {"rows": rows})


@require_GET
@requires("lending.view_contractorreport")
def supervision_detail(request: HttpRequest, code: str) -> HttpResponse:
    return _page(request, _contractor_or_404(request, code))


def _form_page(request, contractor, form, title: str, *, hint: str = ""):
    """A form page, shown again with its errors (200) when refused, as the other forms are."""
    return render(
        request,
        "lending/supervision/form.html",
        {"contractor": contractor, "form": form, "title": title, "hint": hint},
    )


@require_http_methods(["GET", "POST"])
@requires("lending.view_contractorreport", "lending.add_contractorreport")
def report_create(request: HttpRequest, code: str) -> HttpResponse:
    contractor = _contractor_or_404(request, code)
    form = ContractorReportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            supervision.contractor_report_submit(
                actor=request.user,
                contractor=contractor,
                period_start=form.cleaned_data["period_start"],
                period_end=form.cleaned_data["period_end"],
                answers=form.answers(),
                file=form.cleaned_data["file"],
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(request, _("The report was submitted for review."))
            return redirect("lending:supervision", code=contractor.code)
    return _form_page(
        request,
        contractor,
        form,
        _("Submit the yearly security report"),
        hint=_(
            "The yearly confidentiality and security management report, with its checklist. "
            "A security officer reviews it; terminals are lent only while an accepted report "
            "covers the day."
        ),
    )


@require_POST
@requires("lending.view_contractorreport", "lending.change_contractorreport")
def report_review(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(supervision.contractor_report_queryset(user=request.user), pk=pk)
    form = ReviewForm(request.POST)
    if form.is_valid():
        review = (
            supervision.contractor_report_accept
            if form.cleaned_data["decision"] == "accept"
            else supervision.contractor_report_reject
        )
        try:
            report = review(report=report, actor=request.user, note=form.cleaned_data["note"])
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            if report.outcome == ReportOutcome.ACCEPTED:
                messages.success(request, _("The report was accepted."))
            else:
                messages.success(request, _("The report was rejected."))
            return redirect("lending:supervision", code=report.contractor.code)
    return _page(request, report.contractor, review_form=form, review_pk=report.pk, status=400)


@require_GET
@requires("lending.view_contractorreport")
def report_file(request: HttpRequest, pk: int) -> HttpResponse:
    """The report's file, to whoever may read the report (MEDIA_ROOT has no public address)."""
    report = get_object_or_404(supervision.contractor_report_queryset(user=request.user), pk=pk)
    if not report.file:
        raise Http404
    return FileResponse(
        report.file.open("rb"), as_attachment=True, filename=os.path.basename(report.file.name)
    )


@require_http_methods(["GET", "POST"])
@requires("lending.view_contractoraudit", "lending.add_contractoraudit")
def audit_create(request: HttpRequest, code: str) -> HttpResponse:
    contractor = _contractor_or_404(request, code)
    form = ContractorAuditForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            supervision.contractor_audit_record(
                actor=request.user, contractor=contractor, **form.cleaned_data
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(request, _("The audit was recorded."))
            return redirect("lending:supervision", code=contractor.code)
    return _form_page(
        request,
        contractor,
        form,
        _("Record an audit"),
    )


@require_POST
@requires("lending.view_contractoraudit", "lending.change_contractoraudit")
def audit_follow_up(request: HttpRequest, pk: int) -> HttpResponse:
    audit = get_object_or_404(
        ContractorAudit.objects.filter(
            contractor__in=supervision.supervised_contractors(user=request.user)
        ),
        pk=pk,
    )
    form = FollowUpForm(request.POST)
    if form.is_valid():
        try:
            supervision.contractor_audit_follow_up_done(
                audit=audit, actor=request.user, note=form.cleaned_data["note"]
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(request, _("The follow-up was recorded as done."))
            return redirect("lending:supervision", code=audit.contractor.code)
    return _page(request, audit.contractor, follow_up_form=form, status=400)


@require_http_methods(["GET", "POST"])
@requires("lending.view_operatortraining", "lending.add_operatortraining")
def training_create(request: HttpRequest, code: str) -> HttpResponse:
    contractor = _contractor_or_404(request, code)
    initial = {"operator_name": request.GET.get("operator", "")}
    form = OperatorTrainingForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            supervision.operator_training_record(
                actor=request.user, contractor=contractor, **form.cleaned_data
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(request, _("The training was recorded."))
            return redirect("lending:supervision", code=contractor.code)
    return _form_page(
        request,
        contractor,
        form,
        _("Record an operator's training"),
    )


@require_POST
@requires("lending.view_operatortraining", "lending.change_operatortraining")
def training_undertaking(request: HttpRequest, pk: int) -> HttpResponse:
    training = get_object_or_404(supervision.operator_training_queryset(user=request.user), pk=pk)
    form = UndertakingForm(request.POST)
    if form.is_valid():
        try:
            supervision.operator_undertaking_record(
                training=training, actor=request.user, signed_on=form.cleaned_data["signed_on"]
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(request, _("The undertaking was recorded."))
            return redirect("lending:supervision", code=training.contractor.code)
    return _page(request, training.contractor, undertaking_form=form, status=400)


@require_http_methods(["GET", "POST"])
@requires("lending.view_supervisionexception", "lending.add_supervisionexception")
def exception_create(request: HttpRequest, code: str) -> HttpResponse:
    contractor = _contractor_or_404(request, code)
    form = SupervisionExceptionForm(
        request.POST or None,
        initial={"operator_name": request.GET.get("operator", "")},
        max_hours=settings.SUPERVISION_EXCEPTION_MAX_HOURS,
    )
    if request.method == "POST" and form.is_valid():
        try:
            supervision.supervision_exception_grant(
                actor=request.user, contractor=contractor, **form.cleaned_data
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(request, _("The exception was granted and recorded."))
            return redirect("lending:supervision", code=contractor.code)
    return _form_page(
        request,
        contractor,
        form,
        _("Grant an exception"),
        hint=_(
            "Only during a declared disaster: lending goes ahead although the contractor's "
            "report or an operator's training is not current, for at most %(max)s hours. The "
            "reason and your name are recorded in the audit trail."
        )
        % {"max": settings.SUPERVISION_EXCEPTION_MAX_HOURS},
    )
