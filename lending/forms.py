"""Forms of the lending pages. They only read input; lending.services decides and writes."""

from django import forms
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from core.fields import CodeFormField
from core.identifiers import ORGANIZATION_CODE_RULE
from lending.models import DataDisposition, Loan, ReturnCondition
from lending.selectors import active_declarations
from terminals.forms import LocationChoiceField
from terminals.models import Location


class DateTimeLocalInput(forms.DateTimeInput):
    """The browser's date-and-time picker; its value has no seconds and no zone (local time)."""

    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")


class DeclarationForm(forms.Form):
    title = forms.CharField(label=capfirst(_("title")), max_length=200)
    sites = forms.ModelMultipleChoiceField(
        label=capfirst(_("area (sites)")),
        queryset=Location.objects.filter(kind=Location.Kind.SITE).order_by("code"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    lending_limit = forms.DateTimeField(
        label=capfirst(_("lending limit")),
        widget=DateTimeLocalInput(),
        required=False,
        help_text=_("Optional: requests may not ask for terminals beyond this time."),
    )


class AccessRequestForm(forms.Form):
    declaration = forms.ModelChoiceField(
        label=capfirst(_("declaration")),
        queryset=active_declarations(),
        required=False,
        empty_label=None,
    )
    work_site = forms.CharField(
        label=capfirst(_("work site")),
        max_length=300,
        required=False,
        help_text=_("Where the terminals will be used."),
    )
    quantity = forms.IntegerField(label=capfirst(_("number of terminals")), initial=1)
    operators = forms.CharField(
        label=capfirst(_("operators")),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text=_("The people who will use the terminals, one name per line."),
    )
    purpose = forms.CharField(
        label=capfirst(_("purpose")), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    needed_until = forms.DateTimeField(
        label=capfirst(_("needed until")), widget=DateTimeLocalInput()
    )

    def operator_names(self) -> list[str]:
        return self.cleaned_data["operators"].splitlines()


class ReasonForm(forms.Form):
    """A decision that needs a reason (reject, revoke, declare lost)."""

    reason = forms.CharField(
        label=capfirst(_("reason")), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )


class CheckoutForm(forms.Form):
    operator_name = forms.CharField(
        label=capfirst(_("operator who received it")),
        max_length=150,
        required=False,
        # Suggests the operators named in the request (the template renders the datalist).
        widget=forms.TextInput(attrs={"list": "named-operators", "autocomplete": "off"}),
    )
    operator_reason = forms.CharField(
        label=capfirst(_("why someone the request does not name")),
        max_length=300,
        required=False,
        help_text=_("Only to hand out to an operator the request does not name: it is recorded."),
    )
    acknowledged_name = forms.CharField(
        label=_("Operator's signature (typed full name)"),
        max_length=150,
        required=False,
        help_text=_("Typing their name, the operator agrees to the handling rules above."),
    )
    tag = forms.CharField(
        label=capfirst(_("asset tag")),
        max_length=64,
        help_text=_("Scan the terminal's label or type its asset tag, then press Enter."),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )


class TagForm(forms.Form):
    tag = forms.CharField(
        label=capfirst(_("asset tag")),
        max_length=64,
        help_text=_("Scan the terminal's label or type its asset tag, then press Enter."),
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "autofocus": True,
            }
        ),
    )


class ReturnForm(forms.Form):
    condition = forms.ChoiceField(
        label=capfirst(_("condition")),
        choices=ReturnCondition.choices,
        widget=forms.RadioSelect,
        initial=ReturnCondition.OK,
    )
    cards_returned = forms.ModelMultipleChoiceField(
        label=capfirst(_("cards returned")),
        queryset=None,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("A lent card that is not ticked is recorded as not returned."),
    )
    return_location = LocationChoiceField(label=capfirst(_("return location")))
    handed_back_by = forms.CharField(
        label=capfirst(_("operator who handed it back")), max_length=150, required=False
    )
    operator_signature = forms.CharField(
        label=_("Operator's signature (typed full name)"), max_length=150, required=False
    )
    # Required by the service (its message shows on the field): the plans require it after
    # disaster work.
    data_disposition = forms.ChoiceField(
        label=_("Data and printouts obtained for the work"),
        choices=DataDisposition.choices,
        widget=forms.RadioSelect,
        required=False,
        help_text=_("The operator confirms what became of them."),
    )
    notes = forms.CharField(
        label=capfirst(_("notes")), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )

    def __init__(self, *args, loan: Loan, **kwargs):
        super().__init__(*args, **kwargs)
        cards = loan.cards.order_by("card_number")
        self.fields["cards_returned"].queryset = cards
        if not self.is_bound:
            self.initial.setdefault("cards_returned", list(cards))
            self.initial.setdefault("return_location", loan.terminal.location)
            self.initial.setdefault("handed_back_by", loan.operator_name)


class PasswordForm(forms.Form):
    """The borrower re-enters their own password before the credentials are shown."""

    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self):
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("That is not your password."))
        return password


class ContractorForm(forms.Form):
    code = CodeFormField(
        label=capfirst(_("code")),
        max_length=32,
        error_messages={"invalid": ORGANIZATION_CODE_RULE},
        help_text=_("Letters, digits and hyphens; it cannot be changed later."),
    )
    name = forms.CharField(label=capfirst(_("name")), max_length=200)


class ContractorUserForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    email = forms.EmailField(
        label=_("Email"),
        required=False,
        help_text=_("Notices about requests and loans are sent here."),
    )
