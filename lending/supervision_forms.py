"""Forms of the contractor supervision pages. They only read input; lending.supervision decides
and writes (its messages show on the fields, as every refusal does)."""

from django import forms
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from lending.models import Declaration, DeclarationKind, DeclarationStatus
from lending.supervision import ANSWERS, CHECKLIST


class DateInput(forms.DateInput):
    """The browser's date picker."""

    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


ANSWER_CHOICES = list(zip(ANSWERS, [_("Yes"), _("No")], strict=True))


class ContractorReportForm(forms.Form):
    period_start = forms.DateField(
        label=capfirst(_("covers from")), widget=DateInput(), required=False
    )
    period_end = forms.DateField(
        label=capfirst(_("covers until")), widget=DateInput(), required=False
    )
    file = forms.FileField(
        label=capfirst(_("file")),
        required=False,
        help_text=_("Optional: the signed report (PDF or a scan), at most 10 MB."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # One yes/no question per checklist item, in the checklist's order.
        for code, question in CHECKLIST:
            self.fields[f"answer_{code}"] = forms.ChoiceField(
                label=question, choices=ANSWER_CHOICES, widget=forms.RadioSelect, required=False
            )

    def answers(self) -> dict[str, str]:
        return {code: self.cleaned_data.get(f"answer_{code}", "") for code, _q in CHECKLIST}


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[("accept", _("Accept")), ("reject", _("Reject"))],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label=capfirst(_("review note")),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text=_("Required to reject: the contractor reads it."),
    )


class ContractorAuditForm(forms.Form):
    audited_on = forms.DateField(
        label=capfirst(_("audited on")), widget=DateInput(), required=False
    )
    finding = forms.CharField(
        label=capfirst(_("finding")), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    follow_up = forms.CharField(
        label=capfirst(_("follow-up")),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text=_("What the contractor must do, if anything."),
    )
    follow_up_due = forms.DateField(
        label=capfirst(_("follow-up due")), widget=DateInput(), required=False
    )


class FollowUpForm(forms.Form):
    note = forms.CharField(
        label=_("What was done"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )


class OperatorTrainingForm(forms.Form):
    operator_name = forms.CharField(label=capfirst(_("operator")), max_length=150, required=False)
    course = forms.CharField(label=capfirst(_("course")), max_length=200, required=False)
    completed_on = forms.DateField(
        label=capfirst(_("completed on")), widget=DateInput(), required=False
    )
    expires_on = forms.DateField(
        label=capfirst(_("expires on")), widget=DateInput(), required=False
    )
    undertaking_signed_on = forms.DateField(
        label=capfirst(_("undertaking signed on")),
        widget=DateInput(),
        required=False,
        help_text=_(
            "The day the operator signed the undertaking to use personal data only for disaster "
            "work; leave empty until they have."
        ),
    )


class UndertakingForm(forms.Form):
    signed_on = forms.DateField(
        label=capfirst(_("undertaking signed on")), widget=DateInput(), required=False
    )


class SupervisionExceptionForm(forms.Form):
    declaration = forms.ModelChoiceField(
        label=capfirst(_("declaration")),
        queryset=Declaration.objects.filter(
            status=DeclarationStatus.ACTIVE, kind=DeclarationKind.DISASTER
        ),
        required=False,
        empty_label=None,
    )
    operator_name = forms.CharField(
        label=capfirst(_("operator")),
        max_length=150,
        required=False,
        help_text=_(
            "Leave empty for the contractor's yearly report; name an operator for their training."
        ),
    )
    reason = forms.CharField(
        label=capfirst(_("reason")), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    hours = forms.IntegerField(
        label=_("Valid for (hours)"),
        min_value=1,
        required=False,
        help_text=_("The exception ends by itself after this time."),
    )

    def __init__(self, *args, max_hours: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["hours"].max_value = max_hours
        self.fields["hours"].widget.attrs["max"] = max_hours
        self.fields["hours"].initial = min(24, max_hours)
