"""The terminal list's search, filters and sorting: shared by the page, the export and the API."""

import unicodedata

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from terminals.models import Location, Terminal


class TerminalFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("Search (tag, serial, hostname)"))
    status = django_filters.MultipleChoiceFilter(choices=Terminal.Status.choices, label=_("Status"))
    site = django_filters.ModelChoiceFilter(
        queryset=Location.objects.filter(kind=Location.Kind.SITE),
        field_name="location__site",
        label=_("Site"),
    )
    location = django_filters.ModelChoiceFilter(
        queryset=Location.objects.all(), method="within_location", label=_("Location")
    )
    ordering = django_filters.OrderingFilter(
        fields=(
            ("asset_tag", "asset_tag"),
            ("serial_number", "serial_number"),
            ("hostname", "hostname"),
            ("status", "status"),
            ("location__path", "location"),
            ("updated_at", "updated_at"),
        ),
        label=_("Sort"),
    )

    class Meta:
        model = Terminal
        fields = ["q", "status", "site", "location"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        # Full width typed (ＮＷ－００１) finds tags as they are stored; the others as typed too.
        folded = unicodedata.normalize("NFKC", value)
        return queryset.filter(
            Q(asset_tag__icontains=folded)
            | Q(serial_number__icontains=value)
            | Q(serial_number__icontains=folded)
            | Q(hostname__icontains=folded)
        )

    def within_location(self, queryset, name, value):
        # The location and everything under it (a room includes its cabinets).
        return queryset.filter(location__path__startswith=value.path)
