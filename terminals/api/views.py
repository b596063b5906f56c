from rest_framework import viewsets

from terminals.models import AccessCard, Location, Terminal


class LocationViewSet(viewsets.GenericViewSet):
    queryset = Location.objects.all()


class TerminalViewSet(viewsets.GenericViewSet):
    queryset = Terminal.objects.all()


class AccessCardViewSet(viewsets.GenericViewSet):
    queryset = AccessCard.objects.all()
