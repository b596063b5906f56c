"""Inventory API: thin views that parse, call a service or selector, and serialise."""

import django_filters
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.permissions import ChangeActionPermission
from core.api.serializers import IdentifierLookupMixin, validated
from core.filters import IdentifierFilter
from terminals import services
from terminals.api.serializers import (
    AccessCardCreateSerializer,
    AccessCardSerializer,
    AccessCardStoreSerializer,
    AccessCardUpdateSerializer,
    LocationCreateSerializer,
    LocationSerializer,
    LocationUpdateSerializer,
    MovementSerializer,
    ReasonRequiredSerializer,
    TerminalCreateSerializer,
    TerminalMoveSerializer,
    TerminalSerializer,
    TerminalTransitionSerializer,
    TerminalUpdateSerializer,
)
from terminals.filters import TerminalFilter
from terminals.models import AccessCard, Location
from terminals.selectors import access_card_queryset, terminal_history, terminal_queryset

# Any character but the slash that separates path segments: asset tags and card numbers are
# free text printed on labels.
ANY_BUT_SLASH = "[^/]+"


# Locations ------------------------------------------------------------------------------------


class LocationFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Location.Kind.choices)
    site = django_filters.CharFilter(field_name="site__code", label=_("Site (code)"))
    parent = django_filters.CharFilter(field_name="parent__code", label=_("Parent (code)"))

    class Meta:
        model = Location
        fields = ["kind", "site", "parent"]


class LocationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The location tree (site > building > floor > room > cabinet), in tree order."""

    queryset = Location.objects.select_related("parent", "site", "custodian")
    serializer_class = LocationSerializer
    lookup_field = "code"
    filterset_class = LocationFilter
    search_fields = ["code", "name"]
    ordering_fields = ["code", "name"]

    @extend_schema(request=LocationCreateSerializer, responses={201: LocationSerializer})
    def create(self, request):
        location = services.location_create(
            actor=request.user, **validated(LocationCreateSerializer, request)
        )
        return Response(LocationSerializer(location).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=LocationUpdateSerializer, responses={200: LocationSerializer})
    def update(self, request, code=None):
        return self._update(request, partial=False)

    @extend_schema(request=LocationUpdateSerializer, responses={200: LocationSerializer})
    def partial_update(self, request, code=None):
        return self._update(request, partial=True)

    def _update(self, request, *, partial: bool) -> Response:
        location = self.get_object()
        data = validated(
            LocationUpdateSerializer, request, partial=partial, context={"location": location}
        )
        location = services.location_update(
            location=location,
            actor=request.user,
            name=data.get("name", location.name),
            custodian=data.get("custodian", location.custodian),
            secured=data.get("secured", location.secured),
            address=data.get("address", location.address),
            stocktake_interval_days=data.get("stocktake_interval_days"),
        )
        return Response(LocationSerializer(location).data)


# Terminals ------------------------------------------------------------------------------------


class TerminalApiFilter(TerminalFilter):
    """The list page's filters, with site and location given by code: the API shows no keys."""

    site = django_filters.ModelChoiceFilter(
        queryset=Location.objects.filter(kind=Location.Kind.SITE),
        field_name="location__site",
        to_field_name="code",
        label=_("Site (code)"),
    )
    location = django_filters.ModelChoiceFilter(
        queryset=Location.objects.all(),
        method="within_location",
        to_field_name="code",
        label=_("Location (code), including everything inside it"),
    )


_terminal_out = {200: TerminalSerializer}


@extend_schema_view(
    move=extend_schema(request=TerminalMoveSerializer, responses=_terminal_out),
    maintenance=extend_schema(request=TerminalTransitionSerializer, responses=_terminal_out),
    lost=extend_schema(request=ReasonRequiredSerializer, responses=_terminal_out),
    retire=extend_schema(request=ReasonRequiredSerializer, responses=_terminal_out),
    store=extend_schema(request=TerminalTransitionSerializer, responses=_terminal_out),
    history=extend_schema(responses=MovementSerializer(many=True)),
)
class TerminalViewSet(
    IdentifierLookupMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Terminals. Location and status change only through the actions, each a service call."""

    serializer_class = TerminalSerializer
    lookup_field = "asset_tag"
    lookup_value_regex = ANY_BUT_SLASH
    # The filter set carries search and sorting itself (shared with the list page).
    filter_backends = [DjangoFilterBackend]
    filterset_class = TerminalApiFilter

    def get_queryset(self):
        return (
            terminal_queryset(user=self.request.user)
            .select_related("location__site")
            .prefetch_related("addresses")
        )

    @extend_schema(request=TerminalCreateSerializer, responses={201: TerminalSerializer})
    def create(self, request):
        terminal = services.terminal_create(
            actor=request.user, **validated(TerminalCreateSerializer, request)
        )
        return Response(TerminalSerializer(terminal).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=TerminalUpdateSerializer, responses={200: TerminalSerializer})
    def partial_update(self, request, asset_tag=None):
        terminal = self.get_object()
        data = validated(TerminalUpdateSerializer, request, partial=True)
        terminal = services.terminal_update(
            terminal=terminal,
            actor=request.user,
            **{
                field: data.get(field, getattr(terminal, field))
                for field in ("serial_number", "hostname", "model_name", "custodian", "notes")
            },
            addresses=data.get("addresses"),
        )
        return Response(TerminalSerializer(terminal).data)

    @action(detail=True, methods=["post"], permission_classes=[ChangeActionPermission])
    def move(self, request, asset_tag=None):
        terminal = services.terminal_move(
            terminal=self.get_object(),
            actor=request.user,
            **validated(TerminalMoveSerializer, request),
        )
        return Response(TerminalSerializer(terminal).data)

    @action(detail=True, methods=["post"], permission_classes=[ChangeActionPermission])
    def maintenance(self, request, asset_tag=None):
        terminal = services.terminal_send_to_maintenance(
            terminal=self.get_object(),
            actor=request.user,
            **validated(TerminalTransitionSerializer, request),
        )
        return Response(TerminalSerializer(terminal).data)

    @action(detail=True, methods=["post"], permission_classes=[ChangeActionPermission])
    def lost(self, request, asset_tag=None):
        terminal = services.terminal_mark_lost(
            terminal=self.get_object(),
            actor=request.user,
            **validated(ReasonRequiredSerializer, request),
        )
        return Response(TerminalSerializer(terminal).data)

    @action(detail=True, methods=["post"], permission_classes=[ChangeActionPermission])
    def retire(self, request, asset_tag=None):
        terminal = services.terminal_retire(
            terminal=self.get_object(),
            actor=request.user,
            **validated(ReasonRequiredSerializer, request),
        )
        return Response(TerminalSerializer(terminal).data)

    @action(detail=True, methods=["post"], permission_classes=[ChangeActionPermission])
    def store(self, request, asset_tag=None):
        terminal = services.terminal_return_to_storage(
            terminal=self.get_object(),
            actor=request.user,
            **validated(TerminalTransitionSerializer, request),
        )
        return Response(TerminalSerializer(terminal).data)

    @action(detail=True, methods=["get"], filter_backends=[])
    def history(self, request, asset_tag=None):
        """The terminal's movements and status changes, newest first."""
        page = self.paginate_queryset(terminal_history(terminal=self.get_object()))
        return self.get_paginated_response(MovementSerializer(page, many=True).data)


# Access cards ---------------------------------------------------------------------------------


class AccessCardFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=AccessCard.Status.choices)
    kind = django_filters.ChoiceFilter(choices=AccessCard.Kind.choices)
    terminal = IdentifierFilter(field_name="terminal__asset_tag", label=_("Terminal (asset tag)"))
    location = django_filters.CharFilter(
        method="within_location", label=_("Location (code), including everything inside it")
    )

    class Meta:
        model = AccessCard
        fields = ["status", "kind", "terminal", "location"]

    def within_location(self, queryset, name, value):
        location = Location.objects.filter(code=value).first()
        if location is None:
            return queryset.none()
        return queryset.filter(location__path__startswith=location.path)


_card_out = {200: AccessCardSerializer}


@extend_schema_view(
    lost=extend_schema(request=ReasonRequiredSerializer, responses=_card_out),
    retire=extend_schema(request=ReasonRequiredSerializer, responses=_card_out),
    store=extend_schema(request=AccessCardStoreSerializer, responses=_card_out),
)
class AccessCardViewSet(
    IdentifierLookupMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Entry and sign-in cards, lent together with terminals."""

    serializer_class = AccessCardSerializer
    lookup_field = "card_number"
    lookup_value_regex = ANY_BUT_SLASH
    filterset_class = AccessCardFilter
    search_fields = ["card_number", "notes"]
    ordering_fields = ["card_number", "status", "updated_at"]

    def get_queryset(self):
        return access_card_queryset(user=self.request.user)

    @extend_schema(request=AccessCardCreateSerializer, responses={201: AccessCardSerializer})
    def create(self, request):
        card = services.access_card_create(
            actor=request.user, **validated(AccessCardCreateSerializer, request)
        )
        return Response(AccessCardSerializer(card).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=AccessCardUpdateSerializer, responses={200: AccessCardSerializer})
    def partial_update(self, request, card_number=None):
        card = self.get_object()
        data = validated(AccessCardUpdateSerializer, request, partial=True)
        card = services.access_card_update(
            card=card,
            actor=request.user,
            location=data.get("location", card.location),
            terminal=data.get("terminal", card.terminal),
            notes=data.get("notes", card.notes),
        )
        return Response(AccessCardSerializer(card).data)

    @action(detail=True, methods=["post"], permission_classes=[ChangeActionPermission])
    def lost(self, request, card_number=None):
        card = services.access_card_change_status(
            card=self.get_object(),
            actor=request.user,
            to_status=AccessCard.Status.LOST,
            reason=validated(ReasonRequiredSerializer, request).get("reason", ""),
        )
        return Response(AccessCardSerializer(card).data)

    @action(detail=True, methods=["post"], permission_classes=[ChangeActionPermission])
    def retire(self, request, card_number=None):
        card = services.access_card_change_status(
            card=self.get_object(),
            actor=request.user,
            to_status=AccessCard.Status.RETIRED,
            reason=validated(ReasonRequiredSerializer, request).get("reason", ""),
        )
        return Response(AccessCardSerializer(card).data)

    @action(detail=True, methods=["post"], permission_classes=[ChangeActionPermission])
    def store(self, request, card_number=None):
        card = services.access_card_change_status(
            card=self.get_object(),
            actor=request.user,
            to_status=AccessCard.Status.IN_STORAGE,
            reason=validated(AccessCardStoreSerializer, request).get("reason", ""),
        )
        return Response(AccessCardSerializer(card).data)
