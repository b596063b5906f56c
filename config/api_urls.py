from django.urls import include, path
from rest_framework.routers import DefaultRouter

from core.api.views import AuditEventViewSet, ObtainTokenView, OrganizationViewSet
from credentials.api.views import AccountViewSet, RotationViewSet, TargetSystemViewSet
from terminals.api.views import AccessCardViewSet, LocationViewSet, TerminalViewSet

router = DefaultRouter()
router.register("organizations", OrganizationViewSet, basename="organization")
router.register("locations", LocationViewSet, basename="location")
router.register("terminals", TerminalViewSet, basename="terminal")
router.register("access-cards", AccessCardViewSet, basename="accesscard")
router.register("events", AuditEventViewSet, basename="event")
router.register("target-systems", TargetSystemViewSet, basename="targetsystem")
router.register("accounts", AccountViewSet, basename="account")
router.register("rotations", RotationViewSet, basename="rotation")

urlpatterns = [
    path("auth/token/", ObtainTokenView.as_view(), name="api-token"),
    path("", include(router.urls)),
]
