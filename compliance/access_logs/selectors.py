"""Reading ingestions and sign-ins, with the one filter set the sign-ins page and the API share."""

import unicodedata

import django_filters
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from compliance.models import AccessLogIngestion, SignInEvent, SignInResult
from core.identifiers import normalise_identifier
from credentials.models import LoginIdRecord, TargetSystem
from lending.models import Loan


def ingestion_list() -> QuerySet[AccessLogIngestion]:
    return AccessLogIngestion.objects.select_related("target_system", "created_by")


def sign_in_list() -> QuerySet[SignInEvent]:
    return SignInEvent.objects.select_related("target_system")


def _valid_for(accounts: Q) -> Exists:
    """The sign-in's login ID was, at its moment, the login ID of one of `accounts` (a filter on
    the account, spelled from LoginIdRecord) on the sign-in's target system."""
    return Exists(
        LoginIdRecord.objects.filter(
            accounts,
            account__target_system=OuterRef("target_system"),
            login_id__iexact=OuterRef("login_id"),
            valid_from__lte=OuterRef("occurred_at"),
        ).filter(Q(valid_until__isnull=True) | Q(valid_until__gt=OuterRef("occurred_at")))
    )


class SignInFilter(django_filters.FilterSet):
    target = django_filters.ModelChoiceFilter(
        field_name="target_system",
        queryset=TargetSystem.objects.all(),
        to_field_name="code",
        label=_("target system"),
    )
    login_id = django_filters.CharFilter(method="by_login_id", label=_("login ID"))
    terminal = django_filters.CharFilter(
        method="by_terminal",
        label=_("terminal"),
        help_text=_("Asset tag: sign-ins with a login ID that was its account's at that moment."),
    )
    loan = django_filters.NumberFilter(
        method="by_loan",
        label=_("loan"),
        help_text=_("Loan number: sign-ins with its terminal's login IDs during the loan."),
    )
    # `from` is a Python keyword: the field is named in the form's data, not as an attribute.
    occurred_from = django_filters.IsoDateTimeFilter(
        field_name="occurred_at", lookup_expr="gte", label=_("from")
    )
    occurred_to = django_filters.IsoDateTimeFilter(
        field_name="occurred_at", lookup_expr="lt", label=_("to")
    )
    result = django_filters.ChoiceFilter(choices=SignInResult.choices, label=_("result"))

    class Meta:
        model = SignInEvent
        fields: list[str] = []

    def __init__(self, data=None, *args, **kwargs):
        if data is not None:
            data = data.copy()
            for outside, inside in (("from", "occurred_from"), ("to", "occurred_to")):
                if outside in data and inside not in data:
                    data[inside] = data[outside]
        super().__init__(data, *args, **kwargs)

    def by_login_id(self, queryset, _name, value: str):
        value = unicodedata.normalize("NFKC", value).strip()
        return queryset.filter(login_id__iexact=value) if value else queryset

    def by_terminal(self, queryset, _name, value: str):
        tag = normalise_identifier(value)
        if not tag:
            return queryset
        return queryset.filter(_valid_for(Q(account__terminal__asset_tag=tag)))

    def by_loan(self, queryset, _name, value):
        loan = Loan.objects.filter(pk=value).select_related("return_confirmation").first()
        if loan is None:
            return queryset.none()
        window = Q(occurred_at__gte=loan.checked_out_at)
        returned = getattr(loan, "return_confirmation", None)
        if returned is not None:
            window &= Q(occurred_at__lt=returned.returned_at)
        return queryset.filter(window).filter(_valid_for(Q(account__terminal_id=loan.terminal_id)))


def latest_first(queryset: QuerySet[SignInEvent]) -> QuerySet[SignInEvent]:
    return queryset.order_by(F("occurred_at").desc(), "-id")
