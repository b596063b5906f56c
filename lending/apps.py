from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LendingConfig(AppConfig):
    name = "lending"
    verbose_name = _("Lending")

    def ready(self) -> None:
        from credentials.permissions import register_reveal_policy
        from lending.selectors import borrower_may_reveal, loan_holding
        from terminals import hooks

        # The one reveal policy: the borrowing contractor of an open loan of the account's terminal.
        register_reveal_policy(borrower_may_reveal)
        # A reserved or lent terminal changes state only through its loan.
        hooks.register_loan_holds(loan_holding)
        # The phrases lending writes into records, known wherever records are read.
        import lending.phrases  # noqa: F401

        _register_audit_words()
        from lending.arrangements import register_audit_words as arrangement_audit_words

        arrangement_audit_words()
        from lending.supervision import register_audit_words as supervision_audit_words

        supervision_audit_words()


def _register_audit_words() -> None:
    """The audit trail in words (core.audit): this app's actions, detail keys and codes."""
    from core.audit import (
        format_iso_datetime,
        register_action_labels,
        register_detail_labels,
        register_detail_values,
    )
    from lending.models import ReturnCondition

    register_action_labels(
        {
            "declaration.declared": _("Disaster declared"),
            "declaration.lifted": _("Declaration lifted"),
            "declaration.closed": _("Declaration closed"),
            "access_request.submitted": _("Access request submitted"),
            "access_request.approved": _("Access request approved"),
            "access_request.rejected": _("Access request rejected"),
            "access_request.cancelled": _("Access request cancelled"),
            "access_request.operator_added": _("Operator added to the request"),
            "loan.checked_out": _("Terminal checked out"),
            "loan.abandoned": _("Hand-out failed"),
            "loan.returned": _("Return received"),
            "loan.revoked": _("Loan revoked"),
            "loan.lost": _("Loan marked lost"),
        }
    )
    register_detail_labels(
        {
            "title": _("title"),
            "sites": _("sites"),
            "lending_limit": _("lending limit"),
            "grace_hours": _("grace period (hours)"),
            "due_at": _("due"),
            "loans_made_due": _("loans made due"),
            "requests_cancelled": _("requests cancelled"),
            "loans": _("loans"),
            "declaration": _("declaration"),
            "contractor": _("contractor"),
            "quantity": _("number of terminals"),
            "operators": _("operators"),
            "operator": _("operator"),
            "needed_until": _("needed until"),
            "request": _("access request"),
            "loan": _("loan"),
            "acknowledged_by": _("acknowledged by"),
            "cards": _("access cards"),
            "condition": _("condition"),
            "cards_returned": _("cards returned"),
            "cards_missing": _("cards missing"),
            "return_location": _("return location"),
            "handed_back_by": _("handed back by"),
            "received_by": _("received by"),
            # a check-out a dead process left half done, abandoned by the sweeper
            "recovered": _("recovered after an interruption"),
        }
    )
    for key in ("due_at", "needed_until", "lending_limit"):
        register_detail_values(key, format_iso_datetime)
    register_detail_values("condition", ReturnCondition.choices, family="loan")
