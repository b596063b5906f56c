"""Every write to the inventory: one function per transition, each writing its audit event."""

import functools
import ipaddress
from collections.abc import Callable, Iterable
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from core import phrases
from core.audit import record_event
from core.errors import InvalidInput, RuleViolation, created_unless_taken
from core.identifiers import normalise_code, normalise_identifier
from core.models import Organization, User
from core.phrases import Reason
from core.transitions import check_transition
from terminals import hooks
from terminals.models import AccessCard, Location, Movement, Terminal, TerminalAddress
from terminals.validators import identifier_errors, normalise_hostname, validate_hostname

Status = Terminal.Status
T = TypeVar("T")


# Locations ------------------------------------------------------------------------------------


def location_errors(*, code: str, kind: str, parent: Location | None) -> dict[str, list[str]]:
    """Why a new location could not be created (empty when it can); forms and imports share it."""
    errors: dict[str, list[str]] = {}
    if Location.objects.filter(code=code).exists():
        errors["code"] = [_("A location with code %(code)s already exists.") % {"code": code}]
    if kind not in Location.Kind.values:
        errors["kind"] = [_("Unknown kind: %(kind)s.") % {"kind": kind}]
    elif kind == Location.Kind.SITE and parent is not None:
        errors["parent"] = [_("A site is the top of the tree and has no parent.")]
    elif kind != Location.Kind.SITE and parent is None:
        errors["parent"] = [_("Only a site can be without a parent.")]
    elif (
        parent is not None
        and Location.DEPTH[Location.Kind(kind)] <= Location.DEPTH[Location.Kind(parent.kind)]
    ):
        errors["parent"] = [
            _("A %(kind)s cannot be inside a %(parent)s.")
            % {"kind": Location.Kind(kind).label, "parent": Location.Kind(parent.kind).label}
        ]
    return errors


@transaction.atomic
def location_create(
    *,
    actor: User | None,
    code: str,
    name: str,
    kind: str,
    custodian: Organization,
    parent: Location | None = None,
    secured: bool = False,
    address: str = "",
) -> Location:
    code = normalise_code(code)
    errors = location_errors(code=code, kind=kind, parent=parent)
    if errors:
        raise InvalidInput(_("The location was not saved."), field_errors=errors)
    location = created_unless_taken(
        lambda: Location.objects.create(
            code=code,
            name=name,
            kind=kind,
            parent=parent,
            custodian=custodian,
            secured=secured,
            address=address,
            path="",
        ),
        _("The location was not saved."),
        {"code": [_("A location with code %(code)s already exists.") % {"code": code}]},
    )
    # Zero-padded, so that ordering by path lists siblings in creation order.
    location.path = f"{parent.path if parent else '/'}{location.pk:08d}/"
    location.site = parent.site if parent else location
    location.save(update_fields=["path", "site"])
    record_event(
        actor=actor,
        action="location.created",
        obj=location,
        details={
            "code": code,
            "kind": kind,
            "parent": parent.code if parent else None,
            "custodian": custodian.code,
            "secured": secured,
        },
    )
    return location


@transaction.atomic
def location_update(
    *,
    location: Location,
    actor: User | None,
    name: str,
    custodian: Organization,
    secured: bool,
    address: str = "",
    stocktake_interval_days: int | None = None,
) -> Location:
    location = Location.objects.select_for_update(of=("self",)).get(pk=location.pk)
    new = {"name": name, "custodian_id": custodian.pk, "secured": secured, "address": address}
    if stocktake_interval_days is not None:
        if location.kind != Location.Kind.SITE or not 1 <= stocktake_interval_days <= 366:
            raise InvalidInput(
                _("The location was not saved."),
                field_errors={
                    "stocktake_interval_days": [
                        _("A site's stock-take interval is between 1 and 366 days.")
                    ]
                },
            )
        new["stocktake_interval_days"] = stocktake_interval_days
    changes = {k: [getattr(location, k), v] for k, v in new.items() if getattr(location, k) != v}
    if not changes:
        return location
    for field, (_old, value) in changes.items():
        setattr(location, field, value)
    location.save(update_fields=list(changes))
    record_event(actor=actor, action="location.updated", obj=location, details=changes)
    return location


# Terminals ------------------------------------------------------------------------------------


@transaction.atomic
def terminal_create(
    *,
    actor: User | None,
    asset_tag: str,
    location: Location,
    custodian: Organization,
    serial_number: str = "",
    hostname: str = "",
    model_name: str = "",
    notes: str = "",
    addresses: str | Iterable[str] = (),
) -> Terminal:
    asset_tag = normalise_identifier(asset_tag)
    if not asset_tag:
        raise InvalidInput(
            _("The terminal was not saved."),
            field_errors={"asset_tag": [_("An asset tag is required.")]},
        )
    if tag_errors := identifier_errors(asset_tag):
        raise InvalidInput(_("The terminal was not saved."), field_errors={"asset_tag": tag_errors})
    hostname = _checked_hostname(hostname)
    address_list = _checked_addresses(addresses, terminal=None)
    duplicate = {
        "asset_tag": [_("A terminal with asset tag %(tag)s already exists.") % {"tag": asset_tag}]
    }
    if Terminal.objects.filter(asset_tag=asset_tag).exists():
        raise InvalidInput(_("The terminal was not saved."), field_errors=duplicate)
    terminal = created_unless_taken(
        lambda: Terminal.objects.create(
            asset_tag=asset_tag,
            serial_number=serial_number,
            hostname=hostname,
            model_name=model_name,
            location=location,
            custodian=custodian,
            notes=notes,
            status=Status.IN_STORAGE,
        ),
        _("The terminal was not saved."),
        duplicate,
    )
    _save_addresses(terminal, address_list)
    Movement.objects.create(
        terminal=terminal,
        actor=actor,
        to_location=location,
        to_status=Status.IN_STORAGE,
    )
    record_event(
        actor=actor,
        action="terminal.created",
        obj=terminal,
        details={
            "asset_tag": asset_tag,
            "location": location.code,
            "custodian": custodian.code,
            "status": Status.IN_STORAGE,
            **({"addresses": address_list} if address_list else {}),
        },
    )
    return terminal


def _checked_addresses(addresses: str | Iterable[str], *, terminal: Terminal | None) -> list[str]:
    """The addresses as stored (one per line or comma-separated in a form; each a valid IP
    address, written in its canonical form, once), or InvalidInput on the `addresses` field:
    an address belongs to one terminal at a time (the access-log checks tell terminals apart by
    it)."""
    if isinstance(addresses, str):
        addresses = addresses.replace(",", "\n").split()
    found: list[str] = []
    errors: list[str] = []
    for value in addresses:
        value = value.strip()
        if not value:
            continue
        try:
            address = str(ipaddress.ip_address(value))
        except ValueError:
            errors.append(_("%(value)s is not an IP address.") % {"value": value[:60]})
            continue
        if address not in found:
            found.append(address)
    taken = TerminalAddress.objects.filter(address__in=found).select_related("terminal")
    if terminal is not None:
        taken = taken.exclude(terminal=terminal)
    for row in taken:
        errors.append(
            _("%(address)s is already the address of terminal %(tag)s.")
            % {"address": row.address, "tag": row.terminal.asset_tag}
        )
    if errors:
        raise InvalidInput(_("The terminal was not saved."), field_errors={"addresses": errors})
    return found


def _save_addresses(terminal: Terminal, addresses: list[str]) -> None:
    TerminalAddress.objects.filter(terminal=terminal).exclude(address__in=addresses).delete()
    kept = set(TerminalAddress.objects.filter(terminal=terminal).values_list("address", flat=True))
    try:
        with transaction.atomic():  # a race for an address: the unique constraint decides
            TerminalAddress.objects.bulk_create(
                [TerminalAddress(terminal=terminal, address=a) for a in addresses if a not in kept]
            )
    except IntegrityError as exc:
        raise InvalidInput(
            _("The terminal was not saved."),
            field_errors={
                "addresses": [_("One of these addresses was just given to another terminal.")]
            },
        ) from exc


def _checked_hostname(hostname: str) -> str:
    """The hostname as stored (trimmed, lower case), or InvalidInput on its field."""
    hostname = normalise_hostname(hostname)
    try:
        validate_hostname(hostname)
    except ValidationError as exc:
        raise InvalidInput(
            _("The terminal was not saved."), field_errors={"hostname": exc.messages}
        ) from exc
    return hostname


_DESCRIPTIVE_FIELDS = ("serial_number", "hostname", "model_name", "custodian_id", "notes")


@transaction.atomic
def terminal_update(
    *,
    terminal: Terminal,
    actor: User | None,
    serial_number: str,
    hostname: str,
    model_name: str,
    custodian: Organization,
    notes: str,
    addresses: str | Iterable[str] | None = None,
) -> Terminal:
    """Change what describes a terminal; its location and status change only by transitions.
    The audit event's details map each changed field to [old, new] (the custodian by its
    organization code): the terminal page's history shows them."""
    hostname = _checked_hostname(hostname)
    terminal = (
        Terminal.objects.select_for_update(of=("self",))
        .select_related("custodian")
        .get(pk=terminal.pk)
    )
    # None leaves the addresses as they are (an API PATCH without them).
    old_addresses = sorted(terminal.addresses.values_list("address", flat=True))
    new_addresses = (
        old_addresses
        if addresses is None
        else sorted(_checked_addresses(addresses, terminal=terminal))
    )
    new = dict(
        zip(
            _DESCRIPTIVE_FIELDS,
            (serial_number, hostname, model_name, custodian.pk, notes),
            strict=True,
        )
    )
    changes = {k: [getattr(terminal, k), v] for k, v in new.items() if getattr(terminal, k) != v}
    if not changes and new_addresses == old_addresses:
        return terminal
    details = dict(changes)
    if "custodian_id" in details:
        del details["custodian_id"]
        details["custodian"] = [terminal.custodian.code, custodian.code]
    if new_addresses != old_addresses:
        _save_addresses(terminal, new_addresses)
        details["addresses"] = [old_addresses, new_addresses]
    for field, (_old, value) in changes.items():
        setattr(terminal, field, value)
    terminal.save(update_fields=[*changes, "updated_at"])
    record_event(actor=actor, action="terminal.updated", obj=terminal, details=details)
    return terminal


# Row locks taken in this transaction -----------------------------------------------------------
# A transition locks its row and re-checks under the lock. A caller that has already locked the
# row in the same transaction (lending locks the terminal to check a check-out, then reserves it)
# passes the instance it locked, and the transition does not lock it a second time. An instance
# is trusted only within the transaction that locked it: the mark is the connection's list of
# on-commit callbacks, which Django replaces whenever a transaction ends (commit or rollback) or
# rolls back to a savepoint (that releases the locks taken since), so a mark never outlives it.


def _transaction_mark():
    return connection.run_on_commit if connection.in_atomic_block else None


def _mark_locked(instance):
    instance._locked_in = _transaction_mark()
    return instance


def _holds_lock(instance) -> bool:
    mark = _transaction_mark()
    return mark is not None and getattr(instance, "_locked_in", None) is mark


def _in_callers_transaction(function: Callable[..., T]) -> Callable[..., T]:
    """A transition called inside a transaction (a check-out's, a return's) runs in it without
    a savepoint: it makes every check before its first write, so a refusal leaves the caller's
    transaction as it was, and usable. Called outside one, it runs in its own."""

    @functools.wraps(function)
    def run(*args, **kwargs) -> T:
        if connection.in_atomic_block:
            return function(*args, **kwargs)
        with transaction.atomic():
            return function(*args, **kwargs)

    return run


def _lock(terminal: Terminal) -> Terminal:
    if _holds_lock(terminal):
        return terminal
    return _mark_locked(_locking().get(pk=terminal.pk))


def _locking() -> QuerySet[Terminal]:
    return Terminal.objects.select_for_update(of=("self",)).select_related("location")


def terminal_lock(terminal: Terminal | str) -> Terminal | None:
    """The terminal read again under its row lock (with its location), for a caller that checks
    it before a transition in the same transaction: the transition then uses it as it is. By
    asset tag (as stored), None when no terminal has it."""
    if isinstance(terminal, Terminal):
        return _mark_locked(_locking().get(pk=terminal.pk))
    found = _locking().filter(asset_tag=terminal).first()
    return _mark_locked(found) if found is not None else None


def access_cards_lock(cards: QuerySet[AccessCard]) -> list[AccessCard]:
    """The access cards of a query, read under their row locks, for a caller that checks them
    before their transitions in the same transaction (see `terminal_lock`)."""
    return [_mark_locked(card) for card in cards.select_for_update(of=("self",))]


def _record_movement(
    *,
    terminal: Terminal,
    actor: User | None,
    action: str,
    from_location: Location,
    from_status: str,
    reason: Reason,
) -> Movement:
    text, phrase = phrases.split(reason)
    movement = Movement.objects.create(
        terminal=terminal,
        actor=actor,
        from_location=from_location,
        to_location=terminal.location,
        from_status=from_status,
        to_status=terminal.status,
        reason=text,
        reason_phrase=phrase,
    )
    record_event(
        actor=actor,
        action=action,
        obj=terminal,
        details={
            "asset_tag": terminal.asset_tag,
            "from_status": from_status,
            "to_status": terminal.status,
            "from_location": from_location.code,
            "to_location": terminal.location.code,
            "reason": phrases.for_details(reason),
        },
    )
    return movement


@transaction.atomic
def terminal_move(
    *, terminal: Terminal, actor: User | None, to_location: Location, reason: Reason = ""
) -> Terminal:
    terminal = _lock(terminal)
    if terminal.status in (Status.LENT, Status.RETIRED):
        raise RuleViolation(
            _("A %(status)s terminal cannot be moved.") % {"status": Status(terminal.status).label}
        )
    if terminal.location_id == to_location.pk:
        raise InvalidInput(
            _("The terminal was not moved."),
            field_errors={"to_location": [_("The terminal is already at this location.")]},
        )
    from_location = terminal.location
    terminal.location = to_location
    terminal.save(update_fields=["location", "updated_at"])
    _record_movement(
        terminal=terminal,
        actor=actor,
        action="terminal.moved",
        from_location=from_location,
        from_status=terminal.status,
        reason=reason,
    )
    return terminal


def _transition(
    terminal: Terminal,
    *,
    to_status: str,
    actor: User | None,
    reason: Reason,
    to_location: Location | None = None,
    guard: Callable[[Terminal], list[str]] | None = None,
) -> Terminal:
    """Lock, re-check under the lock, change, record. Callers hold a transaction.
    `guard` returns the reasons a rule forbids this transition now (empty: allowed)."""
    terminal = _lock(terminal)
    check_transition(terminal, to_status)
    reasons = guard(terminal) if guard else []
    if reasons:
        raise RuleViolation(
            _("The terminal cannot become %(new)s yet.") % {"new": Status(to_status).label},
            reasons=reasons,
        )
    from_status, from_location = terminal.status, terminal.location
    terminal.status = to_status
    if to_location is not None:
        terminal.location = to_location
    terminal.save(update_fields=["status", "location", "updated_at"])
    _record_movement(
        terminal=terminal,
        actor=actor,
        action=f"terminal.{to_status}",
        from_location=from_location,
        from_status=from_status,
        reason=reason,
    )
    return terminal


@_in_callers_transaction
def terminal_reserve(*, terminal: Terminal, actor: User | None, reason: Reason = "") -> Terminal:
    return _transition(terminal, to_status=Status.RESERVED, actor=actor, reason=reason)


@_in_callers_transaction
def terminal_lend(*, terminal: Terminal, actor: User | None, reason: Reason = "") -> Terminal:
    return _transition(terminal, to_status=Status.LENT, actor=actor, reason=reason)


@_in_callers_transaction
def terminal_mark_returned(
    *, terminal: Terminal, actor: User | None, to_location: Location, reason: Reason = ""
) -> Terminal:
    return _transition(
        terminal, to_status=Status.RETURNED, actor=actor, reason=reason, to_location=to_location
    )


@transaction.atomic
def terminal_return_to_storage(
    *,
    terminal: Terminal,
    actor: User | None,
    to_location: Location | None = None,
    reason: Reason = "",
) -> Terminal:
    return _transition(
        terminal,
        to_status=Status.IN_STORAGE,
        actor=actor,
        reason=reason,
        to_location=to_location,
        guard=_storable,
    )


def _storable(terminal: Terminal) -> list[str]:
    """A reserved or lent terminal is stored only through its loan (a check-out that failed or
    was abandoned), a returned one only once its accounts were rotated."""
    if terminal.status == Status.RETURNED:
        return hooks.storage_blockers(terminal)
    return _not_held_by_a_loan(terminal)


def _not_held_by_a_loan(terminal: Terminal) -> list[str]:
    """A reserved or lent terminal changes state only through its loan: sent to maintenance,
    marked lost or retired from the inventory, its loan would stay open and its accounts
    unlocked, and the loan could never be returned."""
    if terminal.status not in (Status.RESERVED, Status.LENT):
        return []
    return hooks.loan_holds(terminal)


@transaction.atomic
def terminal_send_to_maintenance(
    *,
    terminal: Terminal,
    actor: User | None,
    reason: Reason = "",
    to_location: Location | None = None,
) -> Terminal:
    return _transition(
        terminal,
        to_status=Status.MAINTENANCE,
        actor=actor,
        reason=reason,
        to_location=to_location,
        guard=_not_held_by_a_loan,
    )


@transaction.atomic
def terminal_mark_lost(*, terminal: Terminal, actor: User | None, reason: Reason) -> Terminal:
    return _transition(
        terminal, to_status=Status.LOST, actor=actor, reason=reason, guard=_not_held_by_a_loan
    )


@transaction.atomic
def terminal_retire(*, terminal: Terminal, actor: User | None, reason: Reason) -> Terminal:
    """Retired terminals keep no accounts: after the commit, a worker deletes them on their
    target systems. The retired terminal's accounts not yet deleted are the record of that work:
    a sweeper deletes what a down broker or a dead process left (credentials registers both on
    hooks.on_terminal_retired), and the policy check reports any that still linger."""
    terminal = _transition(
        terminal, to_status=Status.RETIRED, actor=actor, reason=reason, guard=_not_held_by_a_loan
    )
    hooks.terminal_retired(terminal)
    return terminal


# The transitions staff make by hand from the terminal page; the rest belong to lending.
MANUAL_TRANSITIONS = {
    Status.IN_STORAGE: terminal_return_to_storage,
    Status.MAINTENANCE: terminal_send_to_maintenance,
    Status.LOST: terminal_mark_lost,
    Status.RETIRED: terminal_retire,
}


def manual_transitions_from(status: str) -> list[str]:
    if status in (Status.RESERVED, Status.LENT):
        return []  # its loan decides: returned, lost or revoked
    allowed = Terminal.ALLOWED_TRANSITIONS[Status(status)]
    return [s for s in MANUAL_TRANSITIONS if s in allowed]


# Access cards ---------------------------------------------------------------------------------


@transaction.atomic
def access_card_create(
    *,
    actor: User | None,
    card_number: str,
    kind: str,
    location: Location | None = None,
    terminal: Terminal | None = None,
    notes: str = "",
) -> AccessCard:
    errors: dict[str, list[str]] = {}
    card_number = normalise_identifier(card_number)
    if not card_number:
        errors["card_number"] = [_("A card number is required.")]
    elif number_errors := identifier_errors(card_number):
        errors["card_number"] = number_errors
    elif AccessCard.objects.filter(card_number=card_number).exists():
        errors["card_number"] = [
            _("An access card with number %(number)s already exists.") % {"number": card_number}
        ]
    if kind not in AccessCard.Kind.values:
        errors["kind"] = [_("Unknown kind: %(kind)s.") % {"kind": kind}]
    if errors:
        raise InvalidInput(_("The access card was not saved."), field_errors=errors)
    card = created_unless_taken(
        lambda: AccessCard.objects.create(
            card_number=card_number, kind=kind, location=location, terminal=terminal, notes=notes
        ),
        _("The access card was not saved."),
        {
            "card_number": [
                _("An access card with number %(number)s already exists.") % {"number": card_number}
            ]
        },
    )
    record_event(
        actor=actor,
        action="access_card.created",
        obj=card,
        details={
            "card_number": card_number,
            "kind": kind,
            "location": location.code if location else None,
            "terminal": terminal.asset_tag if terminal else None,
        },
    )
    return card


@transaction.atomic
def access_card_update(
    *,
    card: AccessCard,
    actor: User | None,
    location: Location | None,
    terminal: Terminal | None,
    notes: str,
) -> AccessCard:
    card = AccessCard.objects.select_for_update(of=("self",)).get(pk=card.pk)
    if card.status == AccessCard.Status.LENT:
        raise RuleViolation(_("A lent access card cannot be changed until it is returned."))
    new = {
        "location_id": location.pk if location else None,
        "terminal_id": terminal.pk if terminal else None,
        "notes": notes,
    }
    changes = {k: [getattr(card, k), v] for k, v in new.items() if getattr(card, k) != v}
    if not changes:
        return card
    for field, (_old, value) in changes.items():
        setattr(card, field, value)
    card.save(update_fields=[*changes, "updated_at"])
    record_event(actor=actor, action="access_card.updated", obj=card, details=changes)
    return card


def _card_transition(
    card: AccessCard, *, to_status: str, actor: User | None, reason: Reason
) -> AccessCard:
    if not _holds_lock(card):
        card = AccessCard.objects.select_for_update(of=("self",)).get(pk=card.pk)
    check_transition(card, to_status)
    from_status = card.status
    card.status = to_status
    card.save(update_fields=["status", "updated_at"])
    record_event(
        actor=actor,
        action=f"access_card.{to_status}",
        obj=card,
        details={
            "card_number": card.card_number,
            "from_status": from_status,
            "to_status": to_status,
            "reason": phrases.for_details(reason),
        },
    )
    return card


@_in_callers_transaction
def access_card_lend(*, card: AccessCard, actor: User | None, reason: Reason = "") -> AccessCard:
    return _card_transition(card, to_status=AccessCard.Status.LENT, actor=actor, reason=reason)


@_in_callers_transaction
def access_card_return_to_storage(
    *, card: AccessCard, actor: User | None, reason: Reason = ""
) -> AccessCard:
    return _card_transition(
        card, to_status=AccessCard.Status.IN_STORAGE, actor=actor, reason=reason
    )


@transaction.atomic
def access_card_mark_lost(*, card: AccessCard, actor: User | None, reason: Reason) -> AccessCard:
    return _card_transition(card, to_status=AccessCard.Status.LOST, actor=actor, reason=reason)


@transaction.atomic
def access_card_retire(*, card: AccessCard, actor: User | None, reason: Reason) -> AccessCard:
    return _card_transition(card, to_status=AccessCard.Status.RETIRED, actor=actor, reason=reason)


# The changes staff make by hand from the card's page; lending lends a card and brings it back.
MANUAL_CARD_TRANSITIONS: dict[str, Callable[..., AccessCard]] = {
    AccessCard.Status.IN_STORAGE: access_card_return_to_storage,
    AccessCard.Status.LOST: access_card_mark_lost,
    AccessCard.Status.RETIRED: access_card_retire,
}
CARD_STATUSES_NEEDING_REASON = frozenset({AccessCard.Status.LOST, AccessCard.Status.RETIRED})


def access_card_loan_holds(card: AccessCard) -> list[str]:
    """Why a lent card's state belongs to its loan now (empty when the card is not lent): marked
    lost or stored from the inventory, its loan's return would no longer account for it."""
    if card.status != AccessCard.Status.LENT:
        return []
    reasons = hooks.loan_holds(card.terminal) if card.terminal is not None else []
    return reasons or [_("It is lent: it changes state only through its loan (return or lost).")]


def manual_card_transitions_from(status: str) -> list[str]:
    if status == AccessCard.Status.LENT:
        return []  # its loan decides
    allowed = AccessCard.ALLOWED_TRANSITIONS[AccessCard.Status(status)]
    return [s for s in MANUAL_CARD_TRANSITIONS if s in allowed]


@transaction.atomic
def access_card_change_status(
    *, card: AccessCard, actor: User | None, to_status: str, reason: str
) -> AccessCard:
    """A change of status made by hand (the card's page): refused while a loan holds the card,
    and a lost or retired card needs a reason."""
    card = (
        AccessCard.objects.select_for_update(of=("self",))
        .select_related("terminal")
        .get(pk=card.pk)
    )
    holds = access_card_loan_holds(card)
    if holds:
        raise RuleViolation(_("The access card cannot change status now."), reasons=holds)
    change = MANUAL_CARD_TRANSITIONS.get(to_status)
    if change is None:
        raise InvalidInput(
            _("The access card was not changed."),
            field_errors={"to_status": [_("Unknown status: %(status)s.") % {"status": to_status}]},
        )
    if to_status in CARD_STATUSES_NEEDING_REASON and not reason.strip():
        raise InvalidInput(
            _("The access card was not changed."),
            field_errors={"reason": [_("Say why: a lost or retired card needs a reason.")]},
        )
    return change(card=card, actor=actor, reason=reason.strip())
