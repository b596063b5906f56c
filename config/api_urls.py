from django.urls import include, path

from compliance.api.access_logs import AccessLogIngestionViewSet, SignInViewSet
from compliance.api.audit_reports import AuditReportViewSet
from compliance.api.views import DiscrepancyViewSet, StockTakeViewSet
from core.api.routers import ApiRouter
from core.api.views import (
    ApiTokenViewSet,
    AuditEventViewSet,
    ObtainTokenView,
    OrganizationViewSet,
)
from credentials.api.views import AccountViewSet, RotationViewSet, TargetSystemViewSet
from lending.api.arrangements import ArrangementViewSet
from lending.api.supervision import (
    ContractorReportViewSet,
    OperatorTrainingViewSet,
    SupervisionExceptionViewSet,
)
from lending.api.views import AccessRequestViewSet, DeclarationViewSet, LoanViewSet
from terminals.api.views import AccessCardViewSet, LocationViewSet, TerminalViewSet

router = ApiRouter()
router.register("organizations", OrganizationViewSet, basename="organization")
router.register("locations", LocationViewSet, basename="location")
router.register("terminals", TerminalViewSet, basename="terminal")
router.register("access-cards", AccessCardViewSet, basename="accesscard")
router.register("events", AuditEventViewSet, basename="event")
router.register("auth/tokens", ApiTokenViewSet, basename="apitoken")
router.register("target-systems", TargetSystemViewSet, basename="targetsystem")
router.register("accounts", AccountViewSet, basename="account")
router.register("rotations", RotationViewSet, basename="rotation")
router.register("declarations", DeclarationViewSet, basename="declaration")
router.register("access-requests", AccessRequestViewSet, basename="accessrequest")
router.register("loans", LoanViewSet, basename="loan")
router.register("arrangements", ArrangementViewSet, basename="arrangement")
router.register("contractor-reports", ContractorReportViewSet, basename="contractorreport")
router.register("operator-trainings", OperatorTrainingViewSet, basename="operatortraining")
router.register(
    "supervision-exceptions", SupervisionExceptionViewSet, basename="supervisionexception"
)
router.register("stocktakes", StockTakeViewSet, basename="stocktake")
router.register("discrepancies", DiscrepancyViewSet, basename="discrepancy")
router.register("access-logs", AccessLogIngestionViewSet, basename="accesslogingestion")
router.register("sign-ins", SignInViewSet, basename="signin")
router.register("audit-reports", AuditReportViewSet, basename="auditreport")

urlpatterns = [
    path("auth/token/", ObtainTokenView.as_view(), name="api-token"),
    path("", include(router.urls)),
]
