"""List filters shared by pages and the API: the audit trail's (one definition for the audit page
and the API), and the sortable column headings that long lists share."""

import datetime as dt
from collections.abc import Sequence

import django_filters
from django import forms
from django.apps import apps
from django.db.models import Q
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from core.audit import StrOrPromise, known_actions, object_type_spellings
from core.identifiers import normalise_code, normalise_identifier
from core.input_limits import BoundedIsoDateTimeFilter
from core.models import AuditEvent, User


class IdentifierFilter(django_filters.CharFilter):
    """A filter on an identifier people type (asset tag, card number), matched in its one stored
    form (core.identifiers): nw-0001 and ＮＷ－０００１ find NW-0001."""

    def filter(self, qs, value):
        return super().filter(qs, normalise_identifier(value) if value else value)


def _start_of_day(day: dt.date) -> dt.datetime:
    # Dates are days in the site's time zone (Asia/Tokyo), as the pages show them.
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _audited_object_types() -> list[tuple[str, str]]:
    """The models that registered actions are about (`access_card.lent` is about an AccessCard),
    named in words: the object types worth offering in the audit page's list."""
    families = {code.split(".", 1)[0].replace("_", "") for code, _label in known_actions()}
    return sorted(
        (
            (model._meta.label_lower, capfirst(str(model._meta.verbose_name)))
            for model in apps.get_models()
            if model._meta.model_name in families
        ),
        key=lambda choice: choice[1],
    )


class AuditEventFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(method="filter_actor", label=_("Actor (username)"))
    action = django_filters.CharFilter(field_name="action", label=capfirst(_("action")))
    action_prefix = django_filters.CharFilter(
        field_name="action", lookup_expr="startswith", label=_("Action starts with")
    )
    object_type = django_filters.CharFilter(
        method="filter_object_type", label=capfirst(_("object type"))
    )
    object_id = django_filters.CharFilter(field_name="object_id", label=capfirst(_("object id")))
    since = BoundedIsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    until = BoundedIsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")
    # Whole days (Asia/Tokyo), both included: what the audit page's period asks for.
    date_from = django_filters.DateFilter(
        method="filter_date_from",
        label=_("From (date)"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    date_to = django_filters.DateFilter(
        method="filter_date_to",
        label=_("To (date)"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    class Meta:
        model = AuditEvent
        fields = [
            "actor",
            "action",
            "action_prefix",
            "object_type",
            "object_id",
            "since",
            "until",
            "date_from",
            "date_to",
        ]

    def filter_actor(self, queryset, name, value):
        # The person however the name is typed (User.username is in one form), and by id: an
        # event keeps the spelling of its day (the hash covers it), and users are never deleted.
        return queryset.filter(
            Q(actor__in=User.objects.filter(username=value).values("pk"))
            | Q(actor_username=normalise_code(value))
        )

    def filter_object_type(self, queryset, name, value):
        return queryset.filter(object_type__in=object_type_spellings(value))

    def filter_date_from(self, queryset, name, value):
        return queryset.filter(occurred_at__gte=_start_of_day(value))

    def filter_date_to(self, queryset, name, value):
        return queryset.filter(occurred_at__lt=_start_of_day(value + dt.timedelta(days=1)))


class AuditTrailFilter(AuditEventFilter):
    """The audit page's form: the same filters, the action and the object type as lists of
    words (a code nobody registered, typed into the URL, still filters and stays selected)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, choices in (
            ("action", known_actions()),
            ("object_type", _audited_object_types()),
        ):
            current = self.data.get(name, "")
            if current and current not in {code for code, _label in choices}:
                choices = [*choices, (current, current)]
            self.form.fields[name].widget = forms.Select(choices=[("", _("All")), *choices])


# Sorting -------------------------------------------------------------------------------------
# A list sorts by `?ordering=<key>` (or `-<key>`), a key its FilterSet's OrderingFilter lists: the
# filter is the whitelist, and a key it does not know is a form error that sorts nothing. The
# column headings link to the same query string with the sort changed and the page dropped
# (`{% querystring ordering=column.next page=None %}`), so a filtered, sorted list can be shared.


class StableOrderingFilter(django_filters.OrderingFilter):
    """An OrderingFilter that breaks ties by primary key (same direction as the first key), so
    that rows with equal values do not move between pages."""

    def filter(self, qs, value):
        if value in ([], (), {}, "", None):
            return qs
        ordering = [self.get_ordering_value(param) for param in value]
        tiebreak = "-pk" if ordering and ordering[0].startswith("-") else "pk"
        return qs.order_by(*ordering, tiebreak)


def sort_columns(columns: Sequence[tuple[str | None, StrOrPromise]], current: str) -> list[dict]:
    """Each heading links to sorting by its key, ascending first and descending on a second
    click; a column whose key is None cannot be sorted. `current` is the `ordering` parameter."""
    result = []
    for key, label in columns:
        column = {"key": key, "label": label, "next": key, "direction": ""}
        if key and current == key:
            column.update(next=f"-{key}", direction="asc")
        elif key and current == f"-{key}":
            column["direction"] = "desc"
        result.append(column)
    return result
