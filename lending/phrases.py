"""What lending writes into records on its own (core.phrases): put into words when read."""

from django.utils.translation import gettext_lazy as _

from core.phrases import define
from lending.models import ReturnCondition

RESERVED_FOR_REQUEST = define("lending.reserved", _("Hand-out for request #%(id)s"))
HAND_OUT_FAILED = define("lending.hand_out_failed", _("Hand-out failed"))
LENT_FOR_REQUEST = define("lending.lent", _("Lent for request #%(id)s"))
CARD_WITH_TERMINAL = define("lending.card_lent", _("With terminal %(tag)s"))
CARD_RETURNED_WITH = define("lending.card_returned", _("Returned with %(tag)s"))
ROTATED_AND_INSPECTED = define("lending.settled", _("Rotated and inspected"))
RETURNED_IN_CONDITION = define(
    "lending.returned", lambda condition: ReturnCondition(condition).label
)
DECLARATION_LIFTED = define("lending.declaration_lifted", _("The declaration was lifted."))
