"""What lending announces to the apps above it. Lending never imports compliance: compliance
registers its reactions here from its AppConfig.ready() (a stock-take after a declaration
closes, a discrepancy for a card that did not come back). Reactions run in the caller's
transaction, so a failing reaction rolls the whole action back."""

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.models import User
    from lending.models import Declaration, Loan
    from terminals.models import AccessCard

DeclarationClosed = Callable[["Declaration", "User"], None]
CardNotReturned = Callable[["Loan", "AccessCard", "User"], None]
CardResolver = Callable[["AccessCard"], str]

_declaration_closed: list[DeclarationClosed] = []
_card_not_returned: list[CardNotReturned] = []
_card_resolvers: list[CardResolver] = []


def on_declaration_closed(reaction: DeclarationClosed) -> None:
    if reaction not in _declaration_closed:
        _declaration_closed.append(reaction)


def on_card_not_returned(reaction: CardNotReturned) -> None:
    if reaction not in _card_not_returned:
        _card_not_returned.append(reaction)


def register_card_resolver(answer: CardResolver) -> None:
    """Who can tell the page where a card that did not come back is dealt with."""
    if answer not in _card_resolvers:
        _card_resolvers.append(answer)


def card_resolver_url(card: "AccessCard") -> str:
    return next((url for answer in _card_resolvers if (url := answer(card))), "")


def declaration_closed(declaration: "Declaration", actor: "User") -> None:
    for reaction in _declaration_closed:
        reaction(declaration, actor)


def card_not_returned(loan: "Loan", card: "AccessCard", actor: "User") -> None:
    for reaction in _card_not_returned:
        reaction(loan, card, actor)
