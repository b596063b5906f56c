"""Pages of time-boxed arrangements (暫定運用): the list, the proposal form, and each
arrangement's page with its loans, extensions and the decisions (approve, reject, extend). Reads
and writes go through lending.arrangements; irreversible decisions ask first (core.web)."""

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import ApplicationError, RuleViolation
from core.input_limits import BoundedDateTimeField
from core.models import Organization
from core.web import apply_service_error, confirmation, confirmed, requires
from lending import arrangements
from lending.forms import DateTimeLocalInput
from lending.models import Arrangement, ArrangementExtension

# Forms ----------------------------------------------------------------------------------------


class ArrangementForm(forms.Form):
    title = forms.CharField(label=capfirst(gettext_lazy("title")), max_length=200)
    reason = forms.CharField(
        label=capfirst(gettext_lazy("reason")),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
    )
    parties = forms.ModelMultipleChoiceField(
        label=capfirst(gettext_lazy("parties")),
        queryset=Organization.objects.order_by("code"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    terminals = forms.ModelMultipleChoiceField(
        label=capfirst(gettext_lazy("terminals")),
        queryset=arrangements.candidate_terminals(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=gettext_lazy("Terminals in storage."),
    )
    accounts = forms.ModelMultipleChoiceField(
        label=capfirst(gettext_lazy("accounts")),
        queryset=arrangements.candidate_accounts(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=gettext_lazy("None chosen: every account of the chosen terminals."),
    )
    starts_at = BoundedDateTimeField(
        label=capfirst(gettext_lazy("starts")), widget=DateTimeLocalInput(), required=False
    )
    ends_at = BoundedDateTimeField(
        label=capfirst(gettext_lazy("hard end")), widget=DateTimeLocalInput(), required=False
    )


class ExtensionForm(forms.Form):
    new_ends_at = BoundedDateTimeField(
        label=capfirst(gettext_lazy("new end")), widget=DateTimeLocalInput(), required=False
    )
    reason = forms.CharField(
        label=capfirst(gettext_lazy("reason")),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
    )


class DecisionReasonForm(forms.Form):
    reason = forms.CharField(
        label=capfirst(gettext_lazy("reason")),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
    )


# Pages ----------------------------------------------------------------------------------------


def _arrangement_or_404(request: HttpRequest, pk: int) -> Arrangement:
    return get_object_or_404(arrangements.arrangement_queryset(user=request.user), pk=pk)


@require_GET
@requires("lending.view_arrangement")
def arrangement_list(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    rows = [
        (arrangement, arrangements.days_left(arrangement, now))
        for arrangement in arrangements.arrangement_queryset(user=request.user).order_by(
            "status", "ends_at"
        )
    ]
    return render(request, "lending/arrangements/list.html", {"rows": rows})


@require_http_methods(["GET", "POST"])
@requires("lending.view_arrangement", "lending.add_arrangement")
def arrangement_create(request: HttpRequest) -> HttpResponse:
    form = ArrangementForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            arrangement = arrangements.arrangement_propose(
                actor=request.user,
                title=data["title"],
                reason=data["reason"],
                parties=data["parties"],
                terminals=data["terminals"],
                accounts=data["accounts"],
                starts_at=data["starts_at"],
                ends_at=data["ends_at"],
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(
                request,
                _("The arrangement was proposed; a second security officer must approve it."),
            )
            return redirect("lending:arrangement", pk=arrangement.pk)
    return render(request, "lending/arrangements/form.html", {"form": form})


def _detail(
    request: HttpRequest,
    arrangement: Arrangement,
    *,
    extension_form: ExtensionForm | None = None,
    status: int = 200,
) -> HttpResponse:
    now = timezone.now()
    return render(
        request,
        "lending/arrangements/detail.html",
        {
            "arrangement": arrangement,
            "days_left": arrangements.days_left(arrangement, now),
            "terminals": arrangement.terminals.select_related("location").order_by("asset_tag"),
            "accounts": arrangement.accounts.select_related("target_system", "terminal"),
            "loans": arrangements.arrangement_loans(arrangement),
            "extensions": arrangements.extension_history(arrangement),
            "extension_form": extension_form or ExtensionForm(),
            "reason_form": DecisionReasonForm(),
            "deletion_due_at": arrangements.deletion_due_at(arrangement),
            "now": now,
        },
        status=status,
    )


@require_GET
@requires("lending.view_arrangement")
def arrangement_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, _arrangement_or_404(request, pk))


def _refused(request: HttpRequest, exc: ApplicationError) -> None:
    reasons = exc.reasons if isinstance(exc, RuleViolation) else []
    if not reasons:
        reasons = [m for messages_ in exc.field_errors.values() for m in messages_]
    messages.error(request, " ".join([exc.message, *[r for r in reasons if r != exc.message]]))


@require_POST
@requires("lending.view_arrangement", "lending.change_arrangement")
def arrangement_approve(request: HttpRequest, pk: int) -> HttpResponse:
    arrangement = _arrangement_or_404(request, pk)
    try:
        if not confirmed(request):
            if reasons := arrangements.approval_refusals(arrangement, request.user, timezone.now()):
                raise RuleViolation(_("The arrangement was not approved."), reasons=reasons)
            return confirmation(
                request,
                action=_("approve the arrangement “%(title)s”") % {"title": arrangement.title},
                effects=[
                    _(
                        "Its terminals can be requested and lent to its parties until "
                        "%(end)s; then it ends by itself."
                    )
                    % {"end": timezone.localtime(arrangement.ends_at).strftime("%Y-%m-%d %H:%M")},
                ],
                cancel_url=reverse("lending:arrangement", args=[arrangement.pk]),
                button=_("Approve"),
                title=_("Approve the arrangement"),
                danger=False,
            )
        arrangements.arrangement_approve(arrangement=arrangement, actor=request.user)
    except ApplicationError as exc:
        _refused(request, exc)
    else:
        messages.success(request, _("The arrangement was approved."))
    return redirect("lending:arrangement", pk=arrangement.pk)


@require_POST
@requires("lending.view_arrangement", "lending.change_arrangement")
def arrangement_reject(request: HttpRequest, pk: int) -> HttpResponse:
    arrangement = _arrangement_or_404(request, pk)
    reason = request.POST.get("reason", "")
    try:
        if not confirmed(request):
            if reasons := arrangements.approval_refusals(arrangement, request.user, timezone.now()):
                raise RuleViolation(_("The arrangement was not rejected."), reasons=reasons)
            if not reason.strip():
                raise RuleViolation(_("The arrangement was not rejected: a reason is required."))
            return confirmation(
                request,
                action=_("reject the arrangement “%(title)s”") % {"title": arrangement.title},
                cancel_url=reverse("lending:arrangement", args=[arrangement.pk]),
                button=_("Reject"),
                title=_("Reject the arrangement"),
            )
        arrangements.arrangement_reject(arrangement=arrangement, actor=request.user, reason=reason)
    except ApplicationError as exc:
        _refused(request, exc)
    else:
        messages.success(request, _("The arrangement was rejected."))
    return redirect("lending:arrangement", pk=arrangement.pk)


@require_POST
@requires("lending.view_arrangement", "lending.change_arrangement")
def arrangement_extend(request: HttpRequest, pk: int) -> HttpResponse:
    arrangement = _arrangement_or_404(request, pk)
    form = ExtensionForm(request.POST)
    if form.is_valid():
        try:
            arrangements.arrangement_extension_propose(
                arrangement=arrangement,
                actor=request.user,
                new_ends_at=form.cleaned_data["new_ends_at"],
                reason=form.cleaned_data["reason"],
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(
                request,
                _("The extension was proposed; a second security officer must approve it."),
            )
            return redirect("lending:arrangement", pk=arrangement.pk)
    return _detail(request, arrangement, extension_form=form)


def _extension_or_404(request: HttpRequest, pk: int, extension_pk: int) -> ArrangementExtension:
    arrangement = _arrangement_or_404(request, pk)
    extension = get_object_or_404(arrangement.extensions, pk=extension_pk)
    extension.arrangement = arrangement
    return extension


@require_POST
@requires("lending.view_arrangement", "lending.change_arrangement")
def extension_approve(request: HttpRequest, pk: int, extension_pk: int) -> HttpResponse:
    extension = _extension_or_404(request, pk, extension_pk)
    try:
        if not confirmed(request):
            if reasons := arrangements.extension_refusals(extension, request.user):
                raise RuleViolation(_("The extension was not approved."), reasons=reasons)
            return confirmation(
                request,
                action=_("extend the arrangement “%(title)s” to %(end)s")
                % {
                    "title": extension.arrangement.title,
                    "end": timezone.localtime(extension.new_ends_at).strftime("%Y-%m-%d %H:%M"),
                },
                effects=[_("Its declaration's lending limit moves with it.")],
                cancel_url=reverse("lending:arrangement", args=[pk]),
                button=_("Approve the extension"),
                title=_("Approve the extension"),
                danger=False,
            )
        arrangements.arrangement_extension_approve(extension=extension, actor=request.user)
    except ApplicationError as exc:
        _refused(request, exc)
    else:
        messages.success(request, _("The extension was approved: the arrangement ends later."))
    return redirect("lending:arrangement", pk=pk)


@require_POST
@requires("lending.view_arrangement", "lending.change_arrangement")
def extension_reject(request: HttpRequest, pk: int, extension_pk: int) -> HttpResponse:
    extension = _extension_or_404(request, pk, extension_pk)
    try:
        arrangements.arrangement_extension_reject(
            extension=extension, actor=request.user, reason=request.POST.get("reason", "")
        )
    except ApplicationError as exc:
        _refused(request, exc)
    else:
        messages.success(request, _("The extension was rejected."))
    return redirect("lending:arrangement", pk=pk)
