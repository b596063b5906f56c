"""Lending API serializers. Output serializers describe rows and never hold a password (the
reveal answer is its own serializer); input serializers only parse a request, referring to
things by code, tag or number, and leave every rule to lending.services."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import IdentifierSlugField
from core.identifiers import normalise_identifier
from core.input_limits import TEXT_MAX_LENGTH
from credentials.models import AccountState
from lending.models import (
    AccessRequest,
    DataDisposition,
    Declaration,
    Loan,
    ReturnCondition,
    ReturnConfirmation,
)
from terminals.api.serializers import LocationCodeField
from terminals.models import AccessCard


class CardNumberField(IdentifierSlugField):
    default_error_messages = {
        "does_not_exist": _("No access card has the number {value}."),
        "invalid": _("Give an access card number."),
    }

    def __init__(self, **kwargs):
        super().__init__(slug_field="card_number", queryset=AccessCard.objects.all(), **kwargs)


class ActionReasonSerializer(serializers.Serializer):
    """A reason; whether it may be empty is the service's rule (it answers per field)."""

    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


# Declarations ---------------------------------------------------------------------------------


class DeclarationSerializer(serializers.ModelSerializer):
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    sites = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    declared_by = serializers.CharField(source="declared_by.username", read_only=True)
    lifted_by = serializers.CharField(source="lifted_by.username", read_only=True, allow_null=True)
    closed_by = serializers.CharField(source="closed_by.username", read_only=True, allow_null=True)

    class Meta:
        model = Declaration
        fields = [
            "id",
            "title",
            "status",
            "status_label",
            "sites",
            "declared_at",
            "declared_by",
            "lending_limit",
            "lifted_at",
            "lifted_by",
            "closed_at",
            "closed_by",
        ]
        read_only_fields = fields


class DeclarationInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, allow_blank=True)
    sites = LocationCodeField(many=True, help_text=_("Codes of the sites the disaster covers."))
    lending_limit = serializers.DateTimeField(required=False, allow_null=True, default=None)


class LiftInputSerializer(serializers.Serializer):
    grace_hours = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0,
        max_value=24 * 30,
        help_text=_("Hours until open loans are due; the configured grace period when omitted."),
    )


# Access requests ------------------------------------------------------------------------------


class AccessRequestSerializer(serializers.ModelSerializer):
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    decision_reason = serializers.CharField(
        source="decision_reason_text",
        read_only=True,
        help_text=_("Why it was decided, in the language of the request."),
    )
    declaration_title = serializers.CharField(source="declaration.title", read_only=True)
    contractor = serializers.CharField(source="contractor.code", read_only=True)
    contractor_name = serializers.CharField(source="contractor.name", read_only=True)
    submitted_by = serializers.CharField(source="submitted_by.username", read_only=True)
    operators = serializers.ListField(child=serializers.CharField(), read_only=True)
    decided_by = serializers.CharField(
        source="decided_by.username", read_only=True, allow_null=True
    )

    class Meta:
        model = AccessRequest
        fields = [
            "id",
            "declaration",
            "declaration_title",
            "contractor",
            "contractor_name",
            "submitted_by",
            "submitted_at",
            "work_site",
            "quantity",
            "operators",
            "purpose",
            "needed_until",
            "status",
            "status_label",
            "decided_by",
            "decided_at",
            "decision_reason",
        ]
        read_only_fields = fields


class AccessRequestInputSerializer(serializers.Serializer):
    # Blank and out-of-range values pass through: the service answers them with its messages.
    declaration = serializers.PrimaryKeyRelatedField(
        queryset=Declaration.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        error_messages={"does_not_exist": _("No declaration has the number {pk_value}.")},
    )
    work_site = serializers.CharField(max_length=300, allow_blank=True)
    quantity = serializers.IntegerField()
    operators = serializers.ListField(
        child=serializers.CharField(max_length=150, allow_blank=True),
        allow_empty=True,
        help_text=_("The names of the operators who will use the terminals."),
    )
    purpose = serializers.CharField(allow_blank=True, max_length=TEXT_MAX_LENGTH)
    needed_until = serializers.DateTimeField()


# Loans ----------------------------------------------------------------------------------------


class LoanAccountSerializer(serializers.Serializer):
    """What the borrower may know of an account before revealing it: no login ID, no password."""

    id = serializers.IntegerField()
    target_system = serializers.CharField(source="target_system.code")
    target_system_name = serializers.CharField(source="target_system.name")
    revealed = serializers.SerializerMethodField()

    def get_revealed(self, account) -> bool:
        return bool(account.current_version and account.current_version.revealed_at)


class ReturnConfirmationSerializer(serializers.ModelSerializer):
    condition_label = serializers.CharField(source="get_condition_display", read_only=True)
    cards_returned = serializers.SlugRelatedField(
        slug_field="card_number", many=True, read_only=True
    )
    return_location = serializers.SlugRelatedField(slug_field="code", read_only=True)
    received_by = serializers.CharField(source="received_by.username", read_only=True)

    class Meta:
        model = ReturnConfirmation
        fields = [
            "returned_at",
            "condition",
            "condition_label",
            "cards_returned",
            "return_location",
            "handed_back_by",
            "operator_signature",
            "received_by",
            "notes",
            "data_disposition",
            "settled_at",
        ]
        read_only_fields = fields


class LoanSerializer(serializers.ModelSerializer):
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    terminal = serializers.CharField(source="terminal.asset_tag", read_only=True)
    declaration = serializers.IntegerField(source="request.declaration_id", read_only=True)
    contractor = serializers.CharField(source="request.contractor.code", read_only=True)
    handed_out_by = serializers.CharField(source="handed_out_by.username", read_only=True)
    cards = serializers.SlugRelatedField(slug_field="card_number", many=True, read_only=True)
    accounts = serializers.SerializerMethodField()
    revoked_by = serializers.CharField(
        source="revoked_by.username", read_only=True, allow_null=True
    )
    return_confirmation = serializers.SerializerMethodField()

    class Meta:
        model = Loan
        fields = [
            "id",
            "status",
            "status_label",
            "terminal",
            "request",
            "declaration",
            "contractor",
            "work_site",
            "operator_name",
            "handed_out_by",
            "checked_out_at",
            "due_at",
            "acknowledgement_text",
            "acknowledged_name",
            "acknowledged_at",
            "cards",
            "accounts",
            "revoked_at",
            "revoked_by",
            "revocation_reason",
            "return_confirmation",
        ]
        read_only_fields = fields

    @extend_schema_field(LoanAccountSerializer(many=True))
    def get_accounts(self, loan: Loan) -> list[dict]:
        accounts = [
            account
            for account in loan.terminal.accounts.all()
            if account.state != AccountState.DELETED
        ]
        return LoanAccountSerializer(accounts, many=True).data

    @extend_schema_field(ReturnConfirmationSerializer(allow_null=True))
    def get_return_confirmation(self, loan: Loan) -> dict | None:
        confirmation = getattr(loan, "return_confirmation", None)
        return ReturnConfirmationSerializer(confirmation).data if confirmation else None


class _ReturnAnswerSerializer(serializers.Serializer):
    returned_at = serializers.DateTimeField()
    condition = serializers.CharField()
    condition_label = serializers.CharField(source="get_condition_display")
    cards_returned = serializers.SerializerMethodField()
    return_location = serializers.CharField(source="return_location.code")
    handed_back_by = serializers.CharField()
    operator_signature = serializers.CharField()
    received_by = serializers.CharField(source="received_by.username")
    notes = serializers.CharField()
    data_disposition = serializers.CharField()
    settled_at = serializers.DateTimeField()

    def get_cards_returned(self, confirmation: ReturnConfirmation) -> list[str]:
        return [card.card_number for card in confirmation.returned_cards]  # type: ignore[attr-defined]


class LoanAnswerSerializer(serializers.Serializer):
    """The answer to a check-out or a return: what LoanSerializer shows of the loan, field for
    field, from what the service has just written and read (the loan with its request,
    terminal and people; the cards it handed out and the terminal's accounts, which the service
    leaves on the loan as `handed_out_cards` and `terminal_accounts`; the return confirmation,
    with `returned_cards`), with no query of its own. Its fields are declared rather than
    derived from the model, as a ModelSerializer does anew for each answer."""

    id = serializers.IntegerField()
    status = serializers.CharField()
    status_label = serializers.CharField(source="get_status_display")
    terminal = serializers.CharField(source="terminal.asset_tag")
    request = serializers.IntegerField(source="request_id")
    declaration = serializers.IntegerField(source="request.declaration_id")
    contractor = serializers.CharField(source="request.contractor.code")
    work_site = serializers.CharField()
    operator_name = serializers.CharField()
    handed_out_by = serializers.CharField(source="handed_out_by.username")
    checked_out_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    acknowledgement_text = serializers.CharField()
    acknowledged_name = serializers.CharField()
    acknowledged_at = serializers.DateTimeField()
    cards = serializers.SerializerMethodField()
    accounts = serializers.SerializerMethodField()
    revoked_at = serializers.DateTimeField()
    revoked_by = serializers.CharField(source="revoked_by.username", allow_null=True)
    revocation_reason = serializers.CharField()
    return_confirmation = serializers.SerializerMethodField()

    def __init__(self, *args, confirmation: ReturnConfirmation | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.confirmation = confirmation

    def get_cards(self, loan: Loan) -> list[str]:
        return [card.card_number for card in loan.handed_out_cards]  # type: ignore[attr-defined]

    def get_accounts(self, loan: Loan) -> list[dict]:
        accounts = [
            account
            for account in loan.terminal_accounts  # type: ignore[attr-defined]
            if account.state != AccountState.DELETED
        ]
        return LoanAccountSerializer(accounts, many=True).data

    def get_return_confirmation(self, loan: Loan) -> dict | None:
        if self.confirmation is None:
            return None
        return _ReturnAnswerSerializer(self.confirmation).data


class AssetTagField(serializers.CharField):
    """An asset tag as people type it, in its stored form (core.identifiers); not looked up."""

    def to_internal_value(self, data):
        return normalise_identifier(super().to_internal_value(data))


class CheckoutInputSerializer(serializers.Serializer):
    """The request and the terminal are references: the service reads each once, under its
    lock, and answers one that does not exist on its field (400), as a lookup here would."""

    request = serializers.IntegerField(
        help_text=_("The approved access request the terminal is lent against."),
    )
    terminal = AssetTagField(max_length=64, help_text=_("The terminal's asset tag, as scanned."))
    operator_name = serializers.CharField(max_length=150, allow_blank=True)
    acknowledged_name = serializers.CharField(
        max_length=150,
        allow_blank=True,
        help_text=_("The operator's name, signed under the handling rules."),
    )
    operator_reason = serializers.CharField(
        max_length=300,
        required=False,
        allow_blank=True,
        default="",
        help_text=_("Only for an operator the request does not name: why (audited)."),
    )
    cards = CardNumberField(
        many=True,
        required=False,
        help_text=_("Card numbers lent with it; the terminal's cards in storage when omitted."),
    )


class ReturnInputSerializer(serializers.Serializer):
    condition = serializers.ChoiceField(choices=ReturnCondition.choices)
    cards_returned = CardNumberField(many=True, required=False, default=list)
    return_location = LocationCodeField()
    handed_back_by = serializers.CharField(max_length=150, allow_blank=True)
    operator_signature = serializers.CharField(max_length=150, allow_blank=True)
    data_disposition = serializers.ChoiceField(
        choices=DataDisposition.choices,
        help_text=_("What became of the data and printouts obtained for the work."),
    )
    notes = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=TEXT_MAX_LENGTH
    )


class RevealedAccountSerializer(serializers.Serializer):
    """The one answer that holds passwords: a loan's accounts, revealed once."""

    target_system = serializers.CharField()
    login_id = serializers.CharField()
    password = serializers.CharField()
