"""Stock-takes (棚卸し・現品照合): open with a snapshot, scan, close into discrepancies, review;
and the discrepancies that lending reports through its hooks (a card not returned).

One function per transition, each writing its audit event in the same transaction."""

import hashlib
from collections import Counter, defaultdict
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance.models import (
    Discrepancy,
    DiscrepancyEvidence,
    DiscrepancyKind,
    DiscrepancyOutcome,
    Scan,
    ScanResult,
    StockTake,
    StockTakeExpectation,
    StockTakeReason,
    StockTakeStatus,
)
from compliance.selectors import REVIEW_PERMISSION
from core.audit import record_event
from core.emails import bilingual
from core.errors import InvalidInput, RuleViolation
from core.identifiers import normalise_identifier
from core.models import User
from core.selectors import emails_of_users_holding
from core.transitions import check_transition
from credentials.accounts import account_delete
from credentials.models import TargetSystem
from credentials.rotation import rotation_request
from credentials.targets import connector_for
from lending.models import Declaration, Loan
from terminals import services as inventory
from terminals.models import AccessCard, Location, Terminal

Status = Terminal.Status
# Statuses in which a terminal should physically be at its recorded location.
PRESENT_STATUSES = (Status.IN_STORAGE, Status.RESERVED, Status.RETURNED, Status.MAINTENANCE)


# Opening --------------------------------------------------------------------------------------


def stocktake_open(
    *,
    site: Location,
    actor: User | None,
    reason: str,
    blind: bool = True,
    due_days: int | None = None,
    now=None,
) -> StockTake:
    """Open a stock-take of a site with a snapshot of what the inventory expects where."""
    if site.kind != Location.Kind.SITE:
        raise InvalidInput(
            _("The stock-take was not opened."), field_errors={"site": [_("Choose a site.")]}
        )
    now = now or timezone.now()
    try:
        with transaction.atomic():
            stocktake = StockTake.objects.create(
                site=site,
                reason=reason,
                blind=blind,
                opened_at=now,
                opened_by=actor,
                due_at=now + timedelta(days=due_days or settings.STOCKTAKE_DUE_DAYS),
            )
            terminals = (
                Terminal.objects.filter(location__path__startswith=site.path)
                .exclude(status=Status.RETIRED)
                .values_list("pk", "location_id", "status")
            )
            StockTakeExpectation.objects.bulk_create(
                (
                    StockTakeExpectation(
                        stocktake=stocktake, terminal_id=pk, location_id=loc, status=st
                    )
                    for pk, loc, st in terminals.iterator(chunk_size=5000)
                ),
                batch_size=5000,
            )
            record_event(
                actor=actor,
                action="stocktake.opened",
                obj=stocktake,
                details={
                    "site": site.code,
                    "reason": reason,
                    "blind": blind,
                    "expected": stocktake.expectations.count(),
                },
            )
    except IntegrityError as exc:
        raise RuleViolation(
            _("A stock-take of %(site)s is already open.") % {"site": site.name}
        ) from exc
    return stocktake


def stocktakes_open_due(*, now=None) -> list[StockTake]:
    """The scheduler's job: open a stock-take for every site whose interval has passed since its
    last one opened, and that has none open. Safe to run twice: the second run opens nothing."""
    now = now or timezone.now()
    opened = []
    sites = Location.objects.filter(kind=Location.Kind.SITE).annotate(
        last_opened=Max("stocktakes__opened_at"),
        open_count=Count("stocktakes", filter=Q(stocktakes__status=StockTakeStatus.OPEN)),
    )
    for site in sites:
        if site.open_count:
            continue
        if site.last_opened and now - site.last_opened < timedelta(
            days=site.stocktake_interval_days
        ):
            continue
        try:
            opened.append(
                stocktake_open(site=site, actor=None, reason=StockTakeReason.SCHEDULED, now=now)
            )
        except RuleViolation:
            continue  # another scheduler run opened it a moment ago
    return opened


# Scanning -------------------------------------------------------------------------------------


def _expectation(stocktake: StockTake, terminal: Terminal | None):
    if terminal is None:
        return None
    return StockTakeExpectation.objects.filter(stocktake=stocktake, terminal=terminal).first()


@transaction.atomic
def scan_record(*, stocktake: StockTake, location: Location, tag: str, actor: User) -> Scan:
    """Record one read tag at a location and say at once what it means. A terminal found at
    another location is reported, not moved."""
    tag = normalise_identifier(tag)
    if not tag:
        raise InvalidInput(
            _("Nothing was scanned."), field_errors={"tag": [_("Scan or type an asset tag.")]}
        )
    stocktake = (
        StockTake.objects.select_for_update(of=("self",))
        .select_related("site")
        .get(pk=stocktake.pk)
    )
    if stocktake.status != StockTakeStatus.OPEN:
        raise RuleViolation(_("This stock-take is closed: no more scans."))
    if not location.path.startswith(stocktake.site.path):
        raise InvalidInput(
            _("Nothing was scanned."),
            field_errors={"location": [_("This location is not on the stock-take's site.")]},
        )
    terminal = Terminal.objects.filter(asset_tag=tag).first()
    expected = _expectation(stocktake, terminal)
    if terminal is None:
        result = ScanResult.UNKNOWN
    elif Scan.objects.filter(
        stocktake=stocktake, terminal=terminal, location=location, undone_at__isnull=True
    ).exists():
        result = ScanResult.REPEATED
    elif expected is not None and expected.status in (Status.LENT, Status.LOST):
        result = ScanResult.RECORDED_AS_LENT
    elif expected is not None and expected.location_id == location.pk:
        result = ScanResult.EXPECTED_HERE
    else:
        result = ScanResult.BELONGS_ELSEWHERE
    scan = Scan.objects.create(
        stocktake=stocktake,
        location=location,
        tag=tag,
        terminal=terminal,
        result=result,
        scanned_by=actor,
    )
    record_event(
        actor=actor,
        action="stocktake.scanned",
        obj=stocktake,
        details={"tag": tag, "location": location.code, "result": result},
    )
    return scan


@transaction.atomic
def scan_undo_last(*, stocktake: StockTake, actor: User) -> Scan | None:
    """Undo this person's last scan in this stock-take (a mistaken read)."""
    stocktake = StockTake.objects.select_for_update(of=("self",)).get(pk=stocktake.pk)
    if stocktake.status != StockTakeStatus.OPEN:
        raise RuleViolation(_("This stock-take is closed: no more scans."))
    scan = (
        Scan.objects.select_for_update(of=("self",))
        .filter(stocktake=stocktake, scanned_by=actor, undone_at__isnull=True)
        .order_by("-scanned_at", "-id")
        .first()
    )
    if scan is None:
        return None
    scan.undone_at = timezone.now()
    scan.save(update_fields=["undone_at"])
    record_event(
        actor=actor,
        action="stocktake.scan_undone",
        obj=stocktake,
        details={"tag": scan.tag, "location": scan.location.code},
    )
    return scan


# Closing --------------------------------------------------------------------------------------


def stocktake_findings(stocktake: StockTake) -> list[dict]:
    """What closing would record: every difference between the snapshot and the scans."""
    # Plain rows, not model instances: a site holds 100,000 terminals (bench/stocktake.py).
    tags: dict[int, str] = {}
    expected: dict[int, tuple[int, str]] = {}
    for terminal_id, location_id, status, tag in StockTakeExpectation.objects.filter(
        stocktake=stocktake
    ).values_list("terminal_id", "location_id", "status", "terminal__asset_tag"):
        expected[terminal_id], tags[terminal_id] = (location_id, status), tag
    scans = Scan.objects.filter(stocktake=stocktake, undone_at__isnull=True).values_list(
        "terminal_id", "location_id", "tag", "terminal__asset_tag"
    )
    seen_at: dict[int, set[int]] = defaultdict(set)
    unknown: dict[str, int] = {}
    for terminal_id, location_id, scanned_tag, tag in scans:
        if terminal_id is None:
            unknown.setdefault(scanned_tag, location_id)
        else:
            seen_at[terminal_id].add(location_id)
            tags[terminal_id] = tag
    findings = []
    for terminal_id, (location_id, status) in expected.items():
        if status in PRESENT_STATUSES and terminal_id not in seen_at:
            findings.append(
                {
                    "kind": DiscrepancyKind.MISSING,
                    "terminal_id": terminal_id,
                    "location_id": location_id,
                    "subject": tags[terminal_id],
                }
            )
    for terminal_id, locations in seen_at.items():
        expectation = expected.get(terminal_id)
        tag = tags[terminal_id]
        if len(locations) > 1:
            findings.append(
                {
                    "kind": DiscrepancyKind.SCANNED_TWICE,
                    "terminal_id": terminal_id,
                    "location_id": None,
                    "subject": tag,
                    "details": {"locations": sorted(locations)},
                }
            )
        (found_at, *_rest) = sorted(locations)
        if expectation is not None and expectation[1] in (Status.LENT, Status.LOST):
            findings.append(
                {
                    "kind": DiscrepancyKind.FOUND_BUT_LENT,
                    "terminal_id": terminal_id,
                    "location_id": found_at,
                    "subject": tag,
                    "details": {"recorded_status": expectation[1]},
                }
            )
        elif expectation is None or expectation[0] not in locations:
            findings.append(
                {
                    "kind": DiscrepancyKind.FOUND_ELSEWHERE,
                    "terminal_id": terminal_id,
                    "location_id": found_at,
                    "subject": tag,
                    "details": {"recorded_location": expectation[0] if expectation else None},
                }
            )
    for tag, location_id in unknown.items():
        findings.append(
            {
                "kind": DiscrepancyKind.UNKNOWN_TAG,
                "terminal_id": None,
                "location_id": location_id,
                "subject": tag,
            }
        )
    return findings


@transaction.atomic
def stocktake_close(*, stocktake: StockTake, actor: User) -> StockTake:
    stocktake = StockTake.objects.select_for_update(of=("self",)).get(pk=stocktake.pk)
    check_transition(stocktake, StockTakeStatus.CLOSED)
    findings = stocktake_findings(stocktake)
    Discrepancy.objects.bulk_create(
        [
            Discrepancy(
                kind=f["kind"],
                subject=f["subject"],
                stocktake=stocktake,
                terminal_id=f["terminal_id"],
                location_id=f["location_id"],
                details=f.get("details", {}),
            )
            for f in findings
        ],
        batch_size=2000,
    )
    stocktake.status, stocktake.closed_at, stocktake.closed_by = (
        StockTakeStatus.CLOSED,
        timezone.now(),
        actor,
    )
    fields = ["status", "closed_at", "closed_by"]
    if not findings:
        stocktake.status, stocktake.completed_at = StockTakeStatus.COMPLETED, stocktake.closed_at
        fields.append("completed_at")
    stocktake.save(update_fields=fields)
    record_event(
        actor=actor,
        action="stocktake.closed",
        obj=stocktake,
        details={"discrepancies": dict(Counter(str(f["kind"]) for f in findings))},
    )
    return stocktake


def stocktake_summary(stocktake: StockTake) -> dict:
    """Counts per location, parents rolling up their children, and per kind: the site's own
    row, so the totals and the table can never disagree. A finding of no one location (a tag
    scanned at two) counts at the site."""
    own: dict[int, Counter] = defaultdict(Counter)
    for kind, location_id in stocktake.discrepancies.values_list("kind", "location_id"):
        own[location_id or stocktake.site_id][kind] += 1
    locations = list(Location.objects.filter(path__startswith=stocktake.site.path).order_by("path"))
    rolled: dict[int, Counter] = defaultdict(Counter)
    for location in locations:
        for ancestor in location.path.strip("/").split("/"):
            rolled[int(ancestor)].update(own.get(location.pk, Counter()))
    return {
        "per_kind": dict(rolled[stocktake.site_id]),
        "per_location": [(location, dict(rolled[location.pk])) for location in locations],
    }


def stocktake_progress(stocktake: StockTake) -> dict:
    """Found / expected per location and in all, counting each expected terminal once."""
    expected = Counter(
        dict(
            StockTakeExpectation.objects.filter(stocktake=stocktake, status__in=PRESENT_STATUSES)
            .values_list("location")
            .annotate(n=Count("id"))
            .values_list("location", "n")
        )
    )
    found = Counter(
        dict(
            Scan.objects.filter(
                stocktake=stocktake, undone_at__isnull=True, result=ScanResult.EXPECTED_HERE
            )
            .values_list("location")
            .annotate(n=Count("terminal", distinct=True))
            .values_list("location", "n")
        )
    )
    return {
        "per_location": {pk: (found.get(pk, 0), n) for pk, n in expected.items()},
        "found": sum(found.values()),
        "expected": sum(expected.values()),
    }


# Review ---------------------------------------------------------------------------------------

_OUTCOMES_BY_KIND: dict[str, set[DiscrepancyOutcome]] = {
    DiscrepancyKind.MISSING: {
        DiscrepancyOutcome.FOUND,
        DiscrepancyOutcome.LOST_OR_STOLEN,
        DiscrepancyOutcome.WRITTEN_OFF,
    },
    DiscrepancyKind.FOUND_ELSEWHERE: {DiscrepancyOutcome.FOUND, DiscrepancyOutcome.RELOCATED},
    # The loan's return or loss settles a lent terminal found here; a terminal read at two places
    # is checked by hand. Neither is moved by the review.
    DiscrepancyKind.FOUND_BUT_LENT: {DiscrepancyOutcome.FOUND},
    DiscrepancyKind.SCANNED_TWICE: {DiscrepancyOutcome.FOUND},
    DiscrepancyKind.UNKNOWN_TAG: {DiscrepancyOutcome.FOUND, DiscrepancyOutcome.WRITTEN_OFF},
    DiscrepancyKind.ORPHAN_ACCOUNT: {DiscrepancyOutcome.ORPHAN_DELETED, DiscrepancyOutcome.FIXED},
    DiscrepancyKind.RETIRED_TERMINAL_ACCOUNT: {
        DiscrepancyOutcome.ORPHAN_DELETED,
        DiscrepancyOutcome.FIXED,
    },
    DiscrepancyKind.CARD_NOT_RETURNED: {
        DiscrepancyOutcome.FOUND,
        DiscrepancyOutcome.LOST_OR_STOLEN,
        DiscrepancyOutcome.WRITTEN_OFF,
    },
}
# Policy findings not listed above are fixed at their cause, then resolved as such.
_DEFAULT_OUTCOMES = {DiscrepancyOutcome.FIXED, DiscrepancyOutcome.FOUND}


def outcomes_for(kind: str) -> list[str]:
    allowed = _OUTCOMES_BY_KIND.get(kind, _DEFAULT_OUTCOMES)
    return [o for o in DiscrepancyOutcome.values if o in allowed]


@transaction.atomic
def discrepancy_assign(
    *, discrepancy: Discrepancy, actor: User, assignee: User | None
) -> Discrepancy:
    if assignee is not None and not (assignee.is_active and assignee.has_perm(REVIEW_PERMISSION)):
        raise InvalidInput(
            _("Nobody was assigned."),
            field_errors={"assignee": [_("Assign an active security officer.")]},
        )
    discrepancy = Discrepancy.objects.select_for_update(of=("self",)).get(pk=discrepancy.pk)
    discrepancy.assignee = assignee
    discrepancy.save(update_fields=["assignee"])
    record_event(
        actor=actor, action="discrepancy.assigned", obj=discrepancy,
        details={"assignee": assignee.get_username() if assignee else None},
    )  # fmt: skip
    return discrepancy


def discrepancy_resolve(
    *, discrepancy: Discrepancy, actor: User, outcome: str, note: str
) -> Discrepancy:
    """Resolve with an outcome and a note; the outcome's consequence happens here too."""
    errors = {}
    if outcome not in outcomes_for(discrepancy.kind):
        errors["outcome"] = [_("This outcome does not fit this kind of discrepancy.")]
    if not note.strip():
        errors["note"] = [_("A note is required.")]
    if errors:
        raise InvalidInput(_("The discrepancy was not resolved."), field_errors=errors)
    if outcome == DiscrepancyOutcome.ORPHAN_DELETED:
        # A second resolution must not delete on the target again; re-checked under the lock.
        still_open = Discrepancy.objects.filter(pk=discrepancy.pk, status=Discrepancy.Status.OPEN)
        if not still_open.exists():
            raise RuleViolation(_("This discrepancy is already resolved."))
        _delete_orphan(discrepancy, actor)  # slow I/O on the target, before the transaction
    with transaction.atomic():
        discrepancy = (
            Discrepancy.objects.select_for_update(of=("self",))
            .select_related("terminal", "stocktake")
            .get(pk=discrepancy.pk)
        )
        if discrepancy.status != Discrepancy.Status.OPEN:
            raise RuleViolation(_("This discrepancy is already resolved."))
        if (
            discrepancy.stocktake_id
            and Scan.objects.filter(
                stocktake_id=discrepancy.stocktake_id, scanned_by=actor
            ).exists()
        ):
            raise RuleViolation(
                _("You scanned this stock-take, so someone else must resolve its discrepancies.")
            )
        if discrepancy.kind == DiscrepancyKind.CARD_NOT_RETURNED:
            _settle_card(discrepancy, outcome=outcome, actor=actor, note=note)
        else:
            _settle_terminal(discrepancy, outcome=outcome, actor=actor, note=note)
        discrepancy.status, discrepancy.outcome, discrepancy.resolution_note = (
            Discrepancy.Status.RESOLVED,
            outcome,
            note.strip(),
        )
        discrepancy.resolved_by, discrepancy.resolved_at = actor, timezone.now()
        discrepancy.save(
            update_fields=["status", "outcome", "resolution_note", "resolved_by", "resolved_at"]
        )
        record_event(
            actor=actor,
            action="discrepancy.resolved",
            obj=discrepancy,
            details={
                "kind": discrepancy.kind,
                "subject": discrepancy.subject,
                "outcome": outcome,
                "note": note.strip(),
            },
        )
        stocktake = discrepancy.stocktake
        if (
            stocktake
            and not stocktake.discrepancies.filter(status=Discrepancy.Status.OPEN).exists()
        ):
            stocktake = StockTake.objects.select_for_update(of=("self",)).get(pk=stocktake.pk)
            check_transition(stocktake, StockTakeStatus.COMPLETED)
            stocktake.status, stocktake.completed_at = StockTakeStatus.COMPLETED, timezone.now()
            stocktake.save(update_fields=["status", "completed_at"])
            record_event(actor=actor, action="stocktake.completed", obj=stocktake, details={})
    return discrepancy


def _settle_card(discrepancy: Discrepancy, *, outcome: str, actor: User, note: str) -> None:
    """A card that did not come back with its terminal: found, it is back in the store; lost or
    written off, it says so. Either way it no longer blocks its declaration's close. The terminal
    it went out with came back and is not touched."""
    card = discrepancy.access_card
    if card is None:
        return
    if outcome == DiscrepancyOutcome.FOUND and card.status in (
        AccessCard.Status.LENT,
        AccessCard.Status.LOST,
    ):
        inventory.access_card_return_to_storage(card=card, actor=actor, reason=note)
    elif outcome == DiscrepancyOutcome.LOST_OR_STOLEN and card.status == AccessCard.Status.LENT:
        inventory.access_card_mark_lost(card=card, actor=actor, reason=note)
    elif outcome == DiscrepancyOutcome.WRITTEN_OFF and card.status != AccessCard.Status.RETIRED:
        inventory.access_card_retire(card=card, actor=actor, reason=note)


def _settle_terminal(discrepancy: Discrepancy, *, outcome: str, actor: User, note: str) -> None:
    """What a stock-take or policy finding's outcome does to its terminal."""
    terminal = discrepancy.terminal
    if terminal is None:
        return
    if outcome == DiscrepancyOutcome.RELOCATED and discrepancy.location:
        inventory.terminal_move(
            terminal=terminal, actor=actor, to_location=discrepancy.location, reason=note
        )
    elif outcome == DiscrepancyOutcome.LOST_OR_STOLEN and terminal.status != Status.LOST:
        inventory.terminal_mark_lost(terminal=terminal, actor=actor, reason=note)
        for account in terminal.accounts.exclude(state__in=["deleted"]):
            rotation_request(account=account, reason="revoked", actor=actor)
    elif outcome == DiscrepancyOutcome.WRITTEN_OFF and terminal.status != Status.RETIRED:
        inventory.terminal_retire(terminal=terminal, actor=actor, reason=note)


def _evidence_type(head: bytes) -> str | None:
    """What a file is, from its first bytes: the name and the browser's type can say anything."""
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heif"):
        return "image/heic"  # phone cameras
    return None


EVIDENCE_MAX_BYTES = 20 * 1024 * 1024


@transaction.atomic
def discrepancy_add_evidence(*, discrepancy: Discrepancy, actor: User, file) -> DiscrepancyEvidence:
    """Attach a photo or a PDF; the event keeps its hash so a later swap of the file shows."""
    problem = None
    if file.size > EVIDENCE_MAX_BYTES:
        problem = _("The file is larger than %(limit)d MB.") % {
            "limit": EVIDENCE_MAX_BYTES // 2**20
        }
    else:
        file.seek(0)
        head = file.read(16)
        file.seek(0)
        if _evidence_type(head) is None:
            problem = _("Attach a photo (JPEG, PNG, GIF, WebP, HEIC) or a PDF.")
    if problem:
        raise InvalidInput(_("The file was not attached."), field_errors={"file": [problem]})
    digest = hashlib.sha256()
    for chunk in file.chunks():
        digest.update(chunk)
    evidence = DiscrepancyEvidence.objects.create(
        discrepancy=discrepancy, file=file, uploaded_by=actor
    )
    record_event(
        actor=actor,
        action="discrepancy.evidence_added",
        obj=discrepancy,
        details={
            "evidence": evidence.pk,
            "name": evidence.file.name,
            "size": evidence.file.size,
            "sha256": digest.hexdigest(),
        },
    )
    return evidence


def _delete_orphan(discrepancy: Discrepancy, actor: User) -> None:
    if discrepancy.account is not None:
        account_delete(account=discrepancy.account, actor=actor)
        return
    target = TargetSystem.objects.get(code=discrepancy.details["target_system"])
    connector_for(target).delete(discrepancy.details["login_id"])


# Reminders ------------------------------------------------------------------------------------


def stocktake_reminders(*, now=None) -> int:
    """Before the due date a reminder, after it an overdue notice: one summary email per
    recipient (facilities staff scan, security officers close), not one per terminal."""
    now = now or timezone.now()
    open_ones = StockTake.objects.filter(status=StockTakeStatus.OPEN).select_related("site")
    due_soon = list(
        open_ones.filter(
            due_at__gte=now,
            due_at__lt=now + timedelta(days=settings.STOCKTAKE_REMINDER_DAYS),
            reminder_sent_at__isnull=True,
        )
    )
    overdue = list(open_ones.filter(due_at__lt=now, overdue_notice_at__isnull=True))
    if not due_soon and not overdue:
        return 0
    # Those who scan and those who close.
    recipients = emails_of_users_holding("compliance.add_scan", "compliance.change_stocktake")
    subject, body = bilingual("stocktake_summary", {"due_soon": due_soon, "overdue": overdue})
    for email in recipients:
        send_mail(subject, body, None, [email])
    StockTake.objects.filter(pk__in=[s.pk for s in due_soon]).update(reminder_sent_at=now)
    StockTake.objects.filter(pk__in=[s.pk for s in overdue]).update(overdue_notice_at=now)
    return len(recipients)


# What lending reports (registered in ComplianceConfig.ready) ---------------------------------


def stocktakes_open_after_declaration(declaration: Declaration, actor: User | None) -> None:
    """Count what came back: a stock-take of each site the closed declaration covered, unless
    one is already open there."""
    open_sites = set(
        StockTake.objects.filter(status=StockTakeStatus.OPEN).values_list("site_id", flat=True)
    )
    for site in declaration.sites.exclude(pk__in=open_sites):
        stocktake_open(site=site, actor=actor, reason=StockTakeReason.DECLARATION_CLOSED)


def discrepancy_card_not_returned(loan: Loan, card: AccessCard, actor: User | None) -> Discrepancy:
    """A card that did not come back with its terminal, for security to review; in the
    return's transaction."""
    discrepancy = Discrepancy.objects.create(
        kind=DiscrepancyKind.CARD_NOT_RETURNED,
        subject=card.card_number,
        terminal=loan.terminal,
        access_card=card,
        loan=loan,
        details={"contractor": loan.request.contractor.code},
    )
    record_event(
        actor=actor,
        action="discrepancy.opened",
        obj=discrepancy,
        details={
            "kind": discrepancy.kind,
            "terminal": loan.terminal.asset_tag,
            "access_card": card.card_number,
            "loan": loan.pk,
            **discrepancy.details,
        },
    )
    return discrepancy
