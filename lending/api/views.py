"""Lending API: thin views that parse, call lending.services or lending.selectors, and
serialise. Querysets come from the selectors, so a contractor reaches only their own
organization's requests and loans: anything else answers 404, as if it did not exist."""

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.permissions import ChangeActionPermission, requires, requires_any
from core.api.reports import report_action, report_response
from core.api.serializers import REFUSED, validated
from core.filters import IdentifierFilter
from core.ratelimit import check_api
from lending import selectors, services
from lending.api.serializers import (
    AccessRequestInputSerializer,
    AccessRequestSerializer,
    ActionReasonSerializer,
    CheckoutInputSerializer,
    DeclarationInputSerializer,
    DeclarationSerializer,
    LiftInputSerializer,
    LoanAnswerSerializer,
    LoanSerializer,
    ReturnInputSerializer,
    RevealedAccountSerializer,
)
from lending.models import AccessRequest, Loan, LoanStatus, RequestStatus
from lending.reports import CloseReportRowSerializer

# Declarations ---------------------------------------------------------------------------------


class DeclarationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Declared disasters. Contractors see the active ones; security declares, lifts, closes."""

    serializer_class = DeclarationSerializer
    filterset_fields = ["status"]
    search_fields = ["title"]
    ordering_fields = ["declared_at"]

    def get_queryset(self):
        return selectors.declaration_queryset(user=self.request.user)

    @extend_schema(request=DeclarationInputSerializer, responses={201: DeclarationSerializer})
    def create(self, request):
        declaration = services.declaration_declare(
            actor=request.user, **validated(DeclarationInputSerializer, request)
        )
        return Response(DeclarationSerializer(declaration).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=LiftInputSerializer, responses={200: DeclarationSerializer, **REFUSED})
    @action(detail=True, methods=["post"], permission_classes=[ChangeActionPermission])
    def lift(self, request, pk=None):
        """Lift the declaration: every open loan under it becomes due after the grace period."""
        declaration = services.declaration_lift(
            declaration=self.get_object(),
            actor=request.user,
            **validated(LiftInputSerializer, request),
        )
        return Response(DeclarationSerializer(declaration).data)

    @extend_schema(request=None, responses={200: DeclarationSerializer, **REFUSED})
    @action(detail=True, methods=["post"], permission_classes=[ChangeActionPermission])
    def close(self, request, pk=None):
        """Close a lifted declaration; refused, with what is still out, until all is back."""
        declaration = services.declaration_close(declaration=self.get_object(), actor=request.user)
        return Response(DeclarationSerializer(declaration).data)

    # The report lists every contractor's loans and their return confirmations.
    @report_action(CloseReportRowSerializer, permission=requires("lending.view_returnconfirmation"))
    def report(self, request, pk=None, **kwargs):
        """The close report: each loan under the declaration from request to rotation.
        `report.csv` or `?format=csv` answers CSV."""
        declaration = self.get_object()
        return report_response(
            request,
            CloseReportRowSerializer,
            selectors.close_report(declaration=declaration),
            f"declaration-{declaration.pk}-report.csv",
        )


# Access requests ------------------------------------------------------------------------------


class AccessRequestFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=RequestStatus.choices)

    class Meta:
        model = AccessRequest
        fields = ["status", "declaration"]


_request_out = {200: AccessRequestSerializer, **REFUSED}


class AccessRequestViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Contractors' requests for terminals. Contractors submit and cancel their own;
    facilities staff approve or reject."""

    serializer_class = AccessRequestSerializer
    filterset_class = AccessRequestFilter
    search_fields = ["work_site", "purpose"]
    ordering_fields = ["submitted_at", "needed_until"]

    def get_queryset(self):
        return selectors.access_request_queryset(user=self.request.user)

    @extend_schema(request=AccessRequestInputSerializer, responses={201: AccessRequestSerializer})
    def create(self, request):
        access_request = services.access_request_submit(
            actor=request.user, **validated(AccessRequestInputSerializer, request)
        )
        return Response(
            AccessRequestSerializer(access_request).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=ActionReasonSerializer, responses=_request_out)
    @action(detail=True, methods=["post"], permission_classes=[ChangeActionPermission])
    def approve(self, request, pk=None):
        access_request = services.access_request_approve(
            request=self.get_object(),
            actor=request.user,
            **validated(ActionReasonSerializer, request),
        )
        return Response(AccessRequestSerializer(access_request).data)

    @extend_schema(request=ActionReasonSerializer, responses=_request_out)
    @action(detail=True, methods=["post"], permission_classes=[ChangeActionPermission])
    def reject(self, request, pk=None):
        """Reject the request; the reason is required and is sent to the contractor."""
        access_request = services.access_request_reject(
            request=self.get_object(),
            actor=request.user,
            **validated(ActionReasonSerializer, request),
        )
        return Response(AccessRequestSerializer(access_request).data)

    @extend_schema(request=ActionReasonSerializer, responses=_request_out)
    @action(
        detail=True,
        methods=["post"],
        # The contractor withdraws their own request (the queryset holds only theirs); staff
        # who decide requests may cancel any.
        permission_classes=[
            requires_any("lending.add_accessrequest", "lending.change_accessrequest")
        ],
    )
    def cancel(self, request, pk=None):
        access_request = services.access_request_cancel(
            request=self.get_object(),
            actor=request.user,
            **validated(ActionReasonSerializer, request),
        )
        return Response(AccessRequestSerializer(access_request).data)


# Loans ----------------------------------------------------------------------------------------


class LoanFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=LoanStatus.choices)
    declaration = django_filters.NumberFilter(field_name="request__declaration")
    terminal = IdentifierFilter(field_name="terminal__asset_tag", label=_("Terminal (asset tag)"))

    class Meta:
        model = Loan
        fields = ["status", "request", "declaration", "terminal"]


class LoanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Loans. POST is a check-out at the counter; a loan's actions return, reveal (the
    borrower, once), revoke and declare it lost."""

    serializer_class = LoanSerializer
    filterset_class = LoanFilter
    search_fields = ["terminal__asset_tag", "operator_name", "work_site"]
    ordering_fields = ["checked_out_at", "due_at"]

    def get_queryset(self):
        if self.action == "return_":
            # Only whether the user may see it: the service reads the loan under its lock.
            return selectors.loan_queryset(user=self.request.user).select_related(None).only("pk")
        return (
            selectors.loan_queryset(user=self.request.user)
            .select_related(
                "revoked_by",
                "return_confirmation__return_location",
                "return_confirmation__received_by",
            )
            .prefetch_related(
                "cards",
                "return_confirmation__cards_returned",
                "terminal__accounts__target_system",
                "terminal__accounts__current_version",
            )
        )

    def _answer(self, loan: Loan, **kwargs) -> Response:
        return Response(LoanSerializer(self.get_queryset().get(pk=loan.pk)).data, **kwargs)

    @extend_schema(request=CheckoutInputSerializer, responses={201: LoanSerializer, **REFUSED})
    def create(self, request):
        """Check out one terminal against an approved request; refused (409) with every
        reason it may not be lent now."""
        data = validated(CheckoutInputSerializer, request, context={"request": request})
        loan = services.loan_checkout(
            request=data["request"],
            terminal=data["terminal"],
            actor=request.user,
            operator_name=data["operator_name"],
            acknowledged_name=data["acknowledged_name"],
            operator_reason=data["operator_reason"],
            cards=data.get("cards"),
        )
        return Response(LoanAnswerSerializer(loan).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ReturnInputSerializer, responses={200: LoanSerializer, **REFUSED})
    @action(
        detail=True,
        methods=["post"],
        url_path="return",
        url_name="return",
        permission_classes=[ChangeActionPermission],
    )
    def return_(self, request, pk=None):
        """Record the return confirmed by both sides; every account of the terminal is rotated."""
        confirmation = services.loan_return(
            loan=self.get_object(), actor=request.user, **validated(ReturnInputSerializer, request)
        )
        return Response(LoanAnswerSerializer(confirmation.loan, confirmation=confirmation).data)

    @extend_schema(
        request=None,
        responses={
            200: RevealedAccountSerializer(many=True),
            410: OpenApiResponse(
                description=_("Already revealed once: a security officer must approve another.")
            ),
            429: OpenApiResponse(description=_("Too many reveals: see Retry-After.")),
            **REFUSED,
        },
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[requires("lending.reveal_own_loan")],
        pagination_class=None,
    )
    def reveal(self, request, pk=None):
        """The borrower's one look at the login ID and password of every account of the
        terminal. Sent with `Cache-Control: no-store`; a second call answers 410."""
        check_api(request, scope="reveal", setting="RATE_LIMIT_REVEAL")
        revealed = services.loan_reveal(loan=self.get_object(), actor=request.user)
        response = Response(
            RevealedAccountSerializer(
                [
                    {
                        "target_system": account.target_system.code,
                        "login_id": login_id,
                        "password": password,
                    }
                    for account, login_id, password in revealed
                ],
                many=True,
            ).data
        )
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(request=ActionReasonSerializer, responses={200: LoanSerializer, **REFUSED})
    @action(detail=True, methods=["post"], permission_classes=[requires("lending.revoke_loan")])
    def revoke(self, request, pk=None):
        """Revoke an open loan now: its accounts are locked and rotated while the terminal is
        still out; the loan stays open until it is returned or declared lost."""
        loan = services.loan_revoke(
            loan=self.get_object(), actor=request.user, **validated(ActionReasonSerializer, request)
        )
        return self._answer(loan)

    @extend_schema(request=ActionReasonSerializer, responses={200: LoanSerializer, **REFUSED})
    @action(detail=True, methods=["post"], permission_classes=[requires("lending.revoke_loan")])
    def lost(self, request, pk=None):
        """Declare the lent terminal lost: its accounts are locked and rotated."""
        loan = services.loan_mark_lost(
            loan=self.get_object(), actor=request.user, **validated(ActionReasonSerializer, request)
        )
        return self._answer(loan)
