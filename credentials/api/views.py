import django_filters
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from core.api.permissions import requires
from core.filters import IdentifierFilter
from core.ratelimit import check_api
from credentials import selectors
from credentials.accounts import account_create
from credentials.api.serializers import (
    AccountInputSerializer,
    AccountSerializer,
    ForceRotationSerializer,
    ReasonSerializer,
    RevealSerializer,
    RotationSerializer,
    TargetSystemInputSerializer,
    TargetSystemSerializer,
)
from credentials.models import Account, AccountState, Rotation
from credentials.permissions import DECIDES_ROTATIONS, may_reveal
from credentials.reveal import secret_approve_extra_reveal, secret_reveal
from credentials.rotation import (
    manual_rotation_confirm_set,
    manual_rotation_values,
    manual_rotation_verify,
    rotation_force,
)
from credentials.targets import target_system_create


class TargetSystemViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = TargetSystemSerializer
    lookup_field = "code"
    filterset_fields = ["connector"]
    search_fields = ["code", "name"]

    def get_queryset(self):
        return selectors.target_system_queryset(user=self.request.user)

    @extend_schema(request=TargetSystemInputSerializer, responses={201: TargetSystemSerializer})
    def create(self, request, *args, **kwargs):
        data = TargetSystemInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target = target_system_create(actor=request.user, **data.validated_data)
        return Response(TargetSystemSerializer(target).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: RotationSerializer(many=True)})
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[requires(DECIDES_ROTATIONS)],
        pagination_class=None,  # a plain list, as it answers (the schema said a page)
    )
    def rotate(self, request, code=None):
        """Force a rotation of every account on this target system (security officers)."""
        rotations = rotation_force(actor=request.user, accounts=self.get_object().accounts.all())
        return Response(
            RotationSerializer(rotations, many=True).data, status=status.HTTP_202_ACCEPTED
        )


class AccountFilter(django_filters.FilterSet):
    terminal = IdentifierFilter(field_name="terminal__asset_tag")
    target_system = django_filters.CharFilter(field_name="target_system__code")
    state = django_filters.MultipleChoiceFilter(choices=AccountState.choices)

    class Meta:
        model = Account
        fields = ["terminal", "target_system", "state"]


class AccountViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Accounts: login IDs and states, never a password."""

    serializer_class = AccountSerializer
    filterset_class = AccountFilter
    search_fields = ["login_id"]

    def get_queryset(self):
        if self.action == "reveal":
            # the reveal policy, not the model permission, decides who reaches an account here
            return Account.objects.select_related("target_system", "terminal")
        return selectors.account_queryset(user=self.request.user)

    @extend_schema(request=AccountInputSerializer, responses={201: AccountSerializer})
    def create(self, request, *args, **kwargs):
        data = AccountInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = account_create(actor=request.user, **data.validated_data)
        return Response(AccountSerializer(account).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: RotationSerializer})
    @action(detail=True, methods=["post"], permission_classes=[requires(DECIDES_ROTATIONS)])
    def rotate(self, request, pk=None):
        (rotation,) = rotation_force(actor=request.user, accounts=[self.get_object()])
        return Response(RotationSerializer(rotation).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: RevealSerializer, 410: None, 429: None})
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated])
    def reveal(self, request, pk=None):
        check_api(request, scope="reveal", setting="RATE_LIMIT_REVEAL")
        account = self.get_object()
        if not may_reveal(request.user, account):
            # The same answer as an account that does not exist: a refusal must not tell
            # whether an account id is real.
            raise Http404(f"No {Account._meta.object_name} matches the given query.")
        login_id, password = secret_reveal(account=account, actor=request.user)
        response = Response(RevealSerializer({"login_id": login_id, "password": password}).data)
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(request=ReasonSerializer, responses={200: AccountSerializer})
    @action(
        detail=True,
        methods=["post"],
        url_path="approve-reveal",
        permission_classes=[requires(DECIDES_ROTATIONS)],
    )
    def approve_reveal(self, request, pk=None):
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = self.get_object()
        secret_approve_extra_reveal(
            account=account, actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(AccountSerializer(account).data)


class RotationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The rotation queue: pending and failed rotations, oldest first. POST forces rotations."""

    serializer_class = RotationSerializer
    filterset_fields = ["status", "reason"]
    # Numbers only: the manual actions look the rotation up themselves (a word answered 500).
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        if self.action == "list":
            return selectors.rotation_queue(user=self.request.user)
        return selectors.rotation_queryset(user=self.request.user)

    @extend_schema(request=ForceRotationSerializer, responses={202: RotationSerializer(many=True)})
    def create(self, request):
        data = ForceRotationSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ((kind, subject),) = data.validated_data.items()
        accounts = [subject] if kind == "account" else subject.accounts.all()
        rotations = rotation_force(actor=request.user, accounts=accounts)
        return Response(
            RotationSerializer(rotations, many=True).data, status=status.HTTP_202_ACCEPTED
        )

    @extend_schema(request=None, responses={200: RevealSerializer})
    @action(
        detail=True,
        methods=["post"],
        url_path="manual-values",
        permission_classes=[IsAuthenticated],
    )
    def manual_values(self, request, pk=None):
        """For a `manual` target's administrators: the values to set by hand."""
        rotation = self._manual_rotation(pk)
        login_id, password = manual_rotation_values(rotation=rotation, actor=request.user)
        response = Response(RevealSerializer({"login_id": login_id, "password": password}).data)
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(request=None, responses={200: RotationSerializer})
    @action(
        detail=True, methods=["post"], url_path="confirm-set", permission_classes=[IsAuthenticated]
    )
    def confirm_set(self, request, pk=None):
        rotation = manual_rotation_confirm_set(
            rotation=self._manual_rotation(pk), actor=request.user
        )
        return Response(RotationSerializer(rotation).data)

    @extend_schema(request=None, responses={200: RotationSerializer})
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated])
    def verify(self, request, pk=None):
        rotation = manual_rotation_verify(rotation=self._manual_rotation(pk), actor=request.user)
        return Response(RotationSerializer(rotation).data)

    def _manual_rotation(self, pk) -> Rotation:
        rotation = Rotation.objects.filter(
            pk=pk, account__target_system__administrators=self.request.user
        ).first()
        if rotation is None:
            raise PermissionDenied(_("Only an administrator of this target system may do this."))
        return rotation
