"""Forms of the inventory pages. They only check input; terminals.services decides and writes."""

import django_filters
from django import forms
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from core.fields import CodeFormField
from core.identifiers import normalise_identifier
from core.models import Organization
from terminals.filters import TerminalFilter
from terminals.models import AccessCard, Location, Terminal
from terminals.services import (
    CARD_STATUSES_NEEDING_REASON,
    manual_card_transitions_from,
    manual_transitions_from,
)
from terminals.validators import normalise_hostname, validate_hostname

Status = Terminal.Status

# Statuses whose service also accepts a new location (back to storage, off to maintenance).
STATUSES_WITH_LOCATION = frozenset({Status.IN_STORAGE, Status.MAINTENANCE})
STATUSES_NEEDING_REASON = frozenset({Status.LOST, Status.RETIRED})
MAX_CSV_BYTES = 5 * 1024 * 1024


def location_path_label(location: Location, names: dict[int, str]) -> str:
    """ "Site > building > ... > cabinet", from the pks in the location's materialised path."""
    return " > ".join(names.get(int(pk), "?") for pk in location.path.strip("/").split("/"))


class LocationChoiceField(forms.ModelChoiceField):
    """Locations in tree order, labelled with their full path: two floors called 3F differ."""

    def __init__(self, **kwargs):
        super().__init__(queryset=Location.objects.order_by("path"), **kwargs)
        self._names: dict[int, str] | None = None

    def label_from_instance(self, obj: Location) -> str:
        if self._names is None:
            self._names = dict(Location.objects.values_list("pk", "name"))
        return location_path_label(obj, self._names)


class TerminalListFilter(TerminalFilter):
    """The list page's filter: the same search as the API and the export, statuses as checkboxes."""

    status = django_filters.MultipleChoiceFilter(
        choices=Status.choices, label=_("Status"), widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("site", "location"):
            self.filters[name].extra["empty_label"] = _("All")


class TerminalDescriptionForm(forms.Form):
    serial_number = forms.CharField(
        label=capfirst(_("serial number")), max_length=128, required=False
    )
    hostname = forms.CharField(
        label=capfirst(_("hostname")),
        max_length=128,
        required=False,
        validators=[validate_hostname],
        help_text=_("Letters, digits, hyphens and dots, e.g. nwpc-0001; stored in lower case."),
    )
    model_name = forms.CharField(label=capfirst(_("model")), max_length=128, required=False)
    custodian = forms.ModelChoiceField(
        label=capfirst(_("custodian")), queryset=Organization.objects.order_by("name")
    )
    addresses = forms.CharField(
        label=capfirst(_("addresses")),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text=_(
            "The IP addresses it signs in from, one per line or separated by commas (for the "
            "access-log checks); an address belongs to one terminal."
        ),
    )
    notes = forms.CharField(
        label=capfirst(_("notes")), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )

    def clean_hostname(self) -> str:
        # Validators ran on the trimmed value as typed; the stored form is lower case.
        return normalise_hostname(self.cleaned_data["hostname"])


class TerminalCreateForm(TerminalDescriptionForm):
    asset_tag = forms.CharField(label=capfirst(_("asset tag")), max_length=64)
    location = LocationChoiceField(label=capfirst(_("location")))
    field_order = ["asset_tag", "serial_number", "hostname", "model_name", "location", "custodian"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["custodian"].required = False
        self.fields["custodian"].help_text = _("Leave empty to use the location's custodian.")


class TerminalMoveForm(forms.Form):
    to_location = LocationChoiceField(label=capfirst(_("to location")))
    reason = forms.CharField(label=capfirst(_("reason")), max_length=300, required=False)


class TerminalStatusForm(forms.Form):
    to_status = forms.ChoiceField(label=capfirst(_("new status")))
    reason = forms.CharField(label=capfirst(_("reason")), max_length=300, required=False)
    to_location = LocationChoiceField(
        label=capfirst(_("to location")),
        required=False,
        empty_label=_("Keep where it is"),
        help_text=_(
            "Only when it goes back to storage or to maintenance; empty keeps it where it is."
        ),
    )

    def __init__(self, *args, terminal: Terminal, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_status"].choices = [
            (status, Status(status).label) for status in manual_transitions_from(terminal.status)
        ]

    def clean(self):
        data = super().clean()
        to_status = data.get("to_status")
        if to_status in STATUSES_NEEDING_REASON and not data.get("reason", "").strip():
            self.add_error("reason", _("Say why: a lost or retired terminal needs a reason."))
        if data.get("to_location") and to_status not in STATUSES_WITH_LOCATION:
            self.add_error(
                "to_location",
                _("A terminal can change location only when it goes to storage or to maintenance."),
            )
        return data


class CsvImportForm(forms.Form):
    TERMINALS = "terminals"
    LOCATIONS = "locations"

    kind = forms.ChoiceField(
        label=_("What the file holds"),
        choices=[(TERMINALS, _("Terminals")), (LOCATIONS, _("Locations"))],
        widget=forms.RadioSelect,
        initial=TERMINALS,
    )
    file = forms.FileField(label=_("CSV file"))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_CSV_BYTES:
            raise forms.ValidationError(_("The file is larger than 5 MB."))
        return upload


class AccessCardFilter(django_filters.FilterSet):
    """The access card list's filters: status, kind, and a search on the card number."""

    q = django_filters.CharFilter(
        field_name="card_number", lookup_expr="icontains", label=_("Card number")
    )
    status = django_filters.ChoiceFilter(
        choices=AccessCard.Status.choices, label=_("Status"), empty_label=_("All")
    )
    kind = django_filters.ChoiceFilter(
        choices=AccessCard.Kind.choices, label=_("Kind"), empty_label=_("All")
    )

    class Meta:
        model = AccessCard
        fields = ["q", "status", "kind"]


# Locations ------------------------------------------------------------------------------------


class LocationEditForm(forms.Form):
    """What may change once a location exists: its code, kind and parent make its place in the
    tree and stay fixed."""

    name = forms.CharField(label=capfirst(_("name")), max_length=200)
    custodian = forms.ModelChoiceField(
        label=capfirst(_("custodian")), queryset=Organization.objects.order_by("name")
    )
    secured = forms.BooleanField(
        label=capfirst(_("secured (locked, access-controlled)")), required=False
    )
    address = forms.CharField(label=capfirst(_("address")), max_length=300, required=False)
    stocktake_interval_days = forms.IntegerField(
        label=capfirst(_("stock-take interval (days)")),
        min_value=1,
        max_value=366,
        help_text=_("Sites only: days between scheduled stock-takes."),
    )

    def __init__(self, *args, location: Location, **kwargs):
        super().__init__(*args, **kwargs)
        if location.kind != Location.Kind.SITE:
            del self.fields["stocktake_interval_days"]


class LocationCreateForm(forms.Form):
    code = CodeFormField(
        label=capfirst(_("code")),
        max_length=64,
        help_text=_("Letters, digits, hyphens and underscores; it cannot be changed later."),
    )
    name = forms.CharField(label=capfirst(_("name")), max_length=200)
    kind = forms.ChoiceField(label=capfirst(_("kind")), choices=Location.Kind.choices)
    parent = LocationChoiceField(
        label=capfirst(_("parent")),
        required=False,
        empty_label=_("None (a site)"),
        help_text=_("Every place but a site is inside another: a cabinet in a room, and so on."),
    )
    custodian = forms.ModelChoiceField(
        label=capfirst(_("custodian")),
        queryset=Organization.objects.order_by("name"),
        required=False,
        help_text=_("Leave empty to use the parent's custodian."),
    )
    secured = forms.BooleanField(
        label=capfirst(_("secured (locked, access-controlled)")), required=False
    )
    address = forms.CharField(label=capfirst(_("address")), max_length=300, required=False)

    def clean(self):
        data = super().clean()
        if not data.get("custodian"):
            if data.get("parent"):
                data["custodian"] = data["parent"].custodian
            elif "custodian" not in self.errors:
                self.add_error("custodian", _("A site needs a custodian."))
        return data


# Access cards ---------------------------------------------------------------------------------


class TerminalTagField(forms.CharField):
    """A terminal typed or scanned by its asset tag (any case, full-width digits)."""

    def __init__(self, **kwargs):
        super().__init__(max_length=64, **kwargs)

    def clean(self, value):
        tag = normalise_identifier(super().clean(value) or "")
        if not tag:
            return None
        terminal = Terminal.objects.filter(asset_tag=tag).first()
        if terminal is None:
            raise forms.ValidationError(
                _("No terminal has the asset tag %(tag)s."), params={"tag": tag}
            )
        return terminal


class AccessCardEditForm(forms.Form):
    location = LocationChoiceField(
        label=capfirst(_("location")), required=False, empty_label=_("None")
    )
    terminal = TerminalTagField(
        label=capfirst(_("terminal")),
        required=False,
        help_text=_("The asset tag of the terminal it goes with; empty for none."),
    )
    notes = forms.CharField(
        label=capfirst(_("notes")), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )


class AccessCardCreateForm(AccessCardEditForm):
    card_number = forms.CharField(label=capfirst(_("card number")), max_length=64)
    kind = forms.ChoiceField(label=capfirst(_("kind")), choices=AccessCard.Kind.choices)
    field_order = ["card_number", "kind", "location", "terminal", "notes"]


class AccessCardStatusForm(forms.Form):
    to_status = forms.ChoiceField(label=capfirst(_("new status")))
    reason = forms.CharField(label=capfirst(_("reason")), max_length=300, required=False)

    def __init__(self, *args, card: AccessCard, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_status"].choices = [
            (status, AccessCard.Status(status).label)
            for status in manual_card_transitions_from(card.status)
        ]

    def clean(self):
        data = super().clean()
        if data.get("to_status") in CARD_STATUSES_NEEDING_REASON and not (
            data.get("reason", "").strip()
        ):
            self.add_error("reason", _("Say why: a lost or retired card needs a reason."))
        return data
