"""Questions and news the inventory shares with the apps above it, without importing them.
Credentials registers its answers here from its AppConfig.ready(): whether a returned terminal
may be stored again (its accounts were rotated), and what follows a retirement (its accounts
are deleted on their targets). Lending answers whether a loan holds the terminal: a reserved or
lent terminal changes state only through its loan (returned, lost, revoked)."""

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from terminals.models import Terminal

StorageBlockers = Callable[["Terminal"], list[str]]
LoanHolds = Callable[["Terminal"], list[str]]
TerminalRetired = Callable[["Terminal"], None]

_storage_blockers: list[StorageBlockers] = []
_loan_holds: list[LoanHolds] = []
_terminal_retired: list[TerminalRetired] = []


def register_storage_blockers(answer: StorageBlockers) -> None:
    if answer not in _storage_blockers:
        _storage_blockers.append(answer)


def register_loan_holds(answer: LoanHolds) -> None:
    if answer not in _loan_holds:
        _loan_holds.append(answer)


def on_terminal_retired(reaction: TerminalRetired) -> None:
    if reaction not in _terminal_retired:
        _terminal_retired.append(reaction)


def storage_blockers(terminal: "Terminal") -> list[str]:
    """Every reason, from every app that has one, why the terminal may not be stored yet."""
    return [reason for answer in _storage_blockers for reason in answer(terminal)]


def loan_holds(terminal: "Terminal") -> list[str]:
    """Why the terminal's state belongs to a loan now (lending answers: a loan still out)."""
    return [reason for answer in _loan_holds for reason in answer(terminal)]


def terminal_retired(terminal: "Terminal") -> None:
    """Runs in the retirement's transaction; reactions enqueue their outside work on commit,
    through core.queue.enqueue (a broker that is down never fails the retirement), and keep
    in the database what a sweeper needs to finish it if the message is lost."""
    for reaction in _terminal_retired:
        reaction(terminal)
