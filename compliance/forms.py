"""Forms of the stock-take and discrepancy pages. They only read input; terminals.stocktakes
decides and writes."""

import django_filters
from django import forms
from django.core.validators import FileExtensionValidator
from django.db.models import Q
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from compliance.models import (
    SIGN_IN_KINDS,
    Discrepancy,
    DiscrepancyKind,
    DiscrepancyOutcome,
    DiscrepancyStatus,
    StockTake,
)
from compliance.selectors import reviewers
from compliance.services import SCAN_BATCH_MAX, outcomes_for
from core.filters import StableOrderingFilter
from core.models import User
from terminals.forms import LocationChoiceField
from terminals.models import Location

# Photos from phones and cameras, and PDF; the service checks the content and the size.
EVIDENCE_EXTENSIONS = ["jpg", "jpeg", "png", "gif", "webp", "heic", "pdf"]
TAG_ATTRS = {
    "autocomplete": "off",
    "autocapitalize": "characters",
    "autocorrect": "off",
    "spellcheck": "false",
    "enterkeyhint": "send",
}


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return obj.get_full_name() or obj.get_username()


class StockTakeOpenForm(forms.Form):
    site = forms.ModelChoiceField(
        label=capfirst(_("site")),
        queryset=Location.objects.filter(kind=Location.Kind.SITE).order_by("code"),
    )
    blind = forms.BooleanField(
        label=capfirst(_("blind count")),
        required=False,
        initial=True,
        help_text=_("Scanning staff see only what they scanned, not the expected list."),
    )
    due_days = forms.IntegerField(
        label=_("Days to finish"),
        min_value=1,
        max_value=90,
        required=False,
        help_text=_("Empty: the usual period."),
    )


class ScanLocationForm(forms.Form):
    """Where the scanning person stands: any location of the stock-take's site."""

    location = LocationChoiceField(label=capfirst(_("location")), empty_label=_("Choose…"))

    def __init__(self, *args, stocktake: StockTake, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = Location.objects.filter(
            path__startswith=stocktake.site.path
        ).order_by("path")


class ScanForm(forms.Form):
    tag = forms.CharField(
        label=capfirst(_("asset tag")),
        max_length=64,
        required=False,  # the service says "nothing was scanned" in the same words as the API
        help_text=_("Scan the label or type the asset tag, then press Enter."),
        widget=forms.TextInput(attrs={**TAG_ATTRS, "autofocus": True}),
    )


class ScanBatchForm(forms.Form):
    """Several tags at once: what a scanner that stores its reads hands over, one per line."""

    tags = forms.CharField(
        label=_("Asset tags, one per line"),
        required=False,  # the service says "scan or type at least one" in the API's words
        max_length=SCAN_BATCH_MAX * 70,  # about 500 tags: the service counts them exactly
        help_text=_(
            "Paste or let the scanner type the tags it stored, in the order read, then press "
            "Record all. Each is recorded as one scan; blank lines are skipped."
        ),
        widget=forms.Textarea(attrs={**TAG_ATTRS, "rows": 8, "autofocus": True}),
    )

    def tag_list(self) -> list[str]:
        return self.cleaned_data["tags"].splitlines()


class DiscrepancyFilter(django_filters.FilterSet):
    AGES = [
        ("1", _("Older than a day")),
        ("7", _("Older than a week")),
        ("30", _("Older than 30 days")),
    ]
    UNASSIGNED = "none"

    status = django_filters.ChoiceFilter(
        choices=DiscrepancyStatus.choices, label=capfirst(_("status")), empty_label=_("All")
    )
    kind = django_filters.ChoiceFilter(
        choices=DiscrepancyKind.choices, label=capfirst(_("kind")), empty_label=_("All")
    )
    site = django_filters.ModelChoiceFilter(
        queryset=Location.objects.filter(kind=Location.Kind.SITE).order_by("code"),
        label=capfirst(_("site")),
        empty_label=_("All"),
        method="filter_site",
    )
    stocktake = django_filters.ModelChoiceFilter(
        queryset=StockTake.objects.select_related("site"),
        label=capfirst(_("stock-take")),
        empty_label=_("All"),
    )
    age = django_filters.ChoiceFilter(
        choices=AGES, label=_("Age"), empty_label=_("Any"), method="filter_age"
    )
    FOUND_BY = [
        ("stocktake", _("Stock-take")),
        ("policy", _("Policy check")),
        ("access_log", _("Access log")),
    ]
    found_by = django_filters.ChoiceFilter(
        choices=FOUND_BY, label=_("Found by"), empty_label=_("All"), method="filter_found_by"
    )
    assignee = django_filters.ChoiceFilter(
        label=capfirst(_("assignee")), empty_label=_("Anyone"), method="filter_assignee"
    )
    # The list's sortable columns (compliance.views.DISCREPANCY_LIST_COLUMNS name the same keys).
    ordering = StableOrderingFilter(
        fields=(
            ("kind", "kind"),
            ("subject", "subject"),
            ("location__name", "location"),
            ("opened_at", "opened_at"),
            ("assignee__username", "assignee"),
            ("status", "status"),
        ),
        label=_("Sort"),
    )

    class Meta:
        model = Discrepancy
        fields = ["status", "kind", "found_by", "site", "stocktake", "age", "assignee"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["assignee"].extra["choices"] = [
            (self.UNASSIGNED, _("Unassigned")),
            *((str(u.pk), u.get_full_name() or u.get_username()) for u in reviewers()),
        ]

    def filter_site(self, queryset, _name, site):
        # A stock-take finding belongs to its stock-take's site; a policy finding to the site of
        # its location or of its terminal's location.
        return queryset.filter(
            Q(stocktake__site=site)
            | Q(location__path__startswith=site.path)
            | Q(terminal__location__path__startswith=site.path)
        )

    def filter_found_by(self, queryset, _name, value):
        # A policy finding is every one that neither a stock-take nor an access log found.
        access_log = Q(kind__in=SIGN_IN_KINDS)
        if value == "stocktake":
            return queryset.filter(stocktake__isnull=False)
        if value == "access_log":
            return queryset.filter(access_log)
        return queryset.filter(stocktake__isnull=True).exclude(access_log)

    def filter_age(self, queryset, _name, days):
        return queryset.filter(opened_at__lt=timezone.now() - timezone.timedelta(days=int(days)))

    def filter_assignee(self, queryset, _name, value):
        if value == self.UNASSIGNED:
            return queryset.filter(assignee__isnull=True)
        return queryset.filter(assignee_id=value)


class AssignForm(forms.Form):
    assignee = UserChoiceField(
        label=capfirst(_("assignee")),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("Unassigned"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = reviewers()


class ResolveForm(forms.Form):
    outcome = forms.ChoiceField(label=capfirst(_("outcome")), widget=forms.RadioSelect)
    note = forms.CharField(
        label=capfirst(_("note")),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What was checked and what was done."),
    )

    def __init__(self, *args, discrepancy: Discrepancy, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["outcome"].choices = [
            (outcome, DiscrepancyOutcome(outcome).label)
            for outcome in outcomes_for(discrepancy.kind)
        ]


class EvidenceForm(forms.Form):
    file = forms.FileField(
        label=_("Photo or file"),
        validators=[FileExtensionValidator(EVIDENCE_EXTENSIONS)],
        help_text=_("A photo or a PDF, up to 20 MB."),
        widget=forms.ClearableFileInput(
            attrs={"accept": ",".join(f".{ext}" for ext in EVIDENCE_EXTENSIONS) + ",image/*"}
        ),
    )
