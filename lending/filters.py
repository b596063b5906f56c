"""The loan list's filters and sorting, all in the URL so that a link to the list can be shared."""

import django_filters
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from core.filters import StableOrderingFilter
from core.models import Organization
from lending.models import Declaration, Loan, LoanStatus

ALL = "all"
# A hand-out that failed never left the counter: no loan list shows it.
LISTED_STATUSES = [choice for choice in LoanStatus.choices if choice[0] != LoanStatus.ABANDONED]


class LoanListFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=[*LISTED_STATUSES, (ALL, _("All"))],
        method="filter_status",
        label=capfirst(_("status")),
    )
    declaration = django_filters.ModelChoiceFilter(
        queryset=Declaration.objects.none(),
        field_name="request__declaration",
        label=capfirst(_("declaration")),
        empty_label=_("All"),
    )
    contractor = django_filters.ModelChoiceFilter(
        queryset=Organization.objects.filter(kind=Organization.Kind.CONTRACTOR).order_by("name"),
        field_name="request__contractor",
        label=capfirst(_("contractor")),
        empty_label=_("All"),
    )
    ordering = StableOrderingFilter(
        fields=(
            ("terminal__asset_tag", "terminal"),
            ("request__contractor__name", "contractor"),
            ("operator_name", "operator"),
            ("checked_out_at", "checked_out_at"),
            ("due_at", "due_at"),
            ("status", "status"),
        ),
        label=_("Sort"),
    )

    class Meta:
        model = Loan
        fields = ["status", "declaration", "contractor"]

    def __init__(self, *args, declarations, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the declarations this user may see (a contractor: the active ones).
        self.filters["declaration"].queryset = declarations

    def filter_status(self, queryset, name, value):
        return queryset if value == ALL else queryset.filter(status=value)
