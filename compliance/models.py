"""Stock-takes (棚卸し・現品照合), their scans and the inventory's snapshot, and discrepancies:
the differences a stock-take, a policy check or a return finds, for security to review.

The tables were created by terminals/ and moved here with their rows (migration 0001)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from credentials.models import Account
from lending.models import Loan
from terminals.models import AccessCard, Location, Terminal, TerminalStatus


class StockTakeStatus(models.TextChoices):
    OPEN = "open", _("Open (scanning)")
    CLOSED = "closed", _("Closed (under review)")
    COMPLETED = "completed", _("Completed")


class StockTakeReason(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    MANUAL = "manual", _("Opened by hand")
    DECLARATION_CLOSED = "declaration_closed", _("Declaration closed")


class StockTake(models.Model):
    """A physical count (棚卸し・現品照合) of one site's terminals against the inventory."""

    FORMER_AUDIT_LABELS = ("terminals.stocktake",)  # before the move to compliance/

    Status = StockTakeStatus
    Reason = StockTakeReason
    ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
        StockTakeStatus.OPEN: frozenset({StockTakeStatus.CLOSED}),
        StockTakeStatus.CLOSED: frozenset({StockTakeStatus.COMPLETED}),
        StockTakeStatus.COMPLETED: frozenset(),
    }

    site = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="stocktakes", verbose_name=_("site")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=StockTakeStatus.choices, default=StockTakeStatus.OPEN
    )
    reason = models.CharField(_("reason"), max_length=24, choices=StockTakeReason.choices)
    blind = models.BooleanField(
        _("blind count"),
        default=True,
        help_text=_("Scanning staff see only what they scanned, not the expected list."),
    )
    opened_at = models.DateTimeField(_("opened at"))
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    due_at = models.DateTimeField(_("due"))
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    overdue_notice_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        verbose_name = _("stock-take")
        verbose_name_plural = _("stock-takes")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=StockTakeStatus.values), name="stocktake_status_valid"
            ),
            # The scheduler and a person may race to open one: one open per site at a time.
            models.UniqueConstraint(
                fields=["site"],
                condition=models.Q(status="open"),
                name="stocktake_one_open_per_site",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.site.name} {self.opened_at:%Y-%m-%d}"


class StockTakeExpectation(models.Model):
    """The inventory's snapshot when the stock-take opened: where each terminal should be."""

    FORMER_AUDIT_LABELS = ("terminals.stocktakeexpectation",)  # before the move to compliance/

    stocktake = models.ForeignKey(StockTake, on_delete=models.CASCADE, related_name="expectations")
    terminal = models.ForeignKey(Terminal, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=TerminalStatus.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stocktake", "terminal"], name="expectation_once")
        ]
        indexes = [models.Index(fields=["stocktake", "location"], name="expectation_at_location")]

    def __str__(self) -> str:
        return f"{self.terminal_id}@{self.location_id}"


class ScanResult(models.TextChoices):
    EXPECTED_HERE = "expected_here", _("Expected here")
    BELONGS_ELSEWHERE = "belongs_elsewhere", _("Belongs elsewhere")
    RECORDED_AS_LENT = "recorded_as_lent", _("Recorded as lent")
    UNKNOWN = "unknown", _("Unknown tag")
    REPEATED = "repeated", _("Already scanned here")


class Scan(models.Model):
    """One tag read at one location during a stock-take (読取)."""

    FORMER_AUDIT_LABELS = ("terminals.scan",)  # before the move to compliance/

    Result = ScanResult

    stocktake = models.ForeignKey(StockTake, on_delete=models.CASCADE, related_name="scans")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    tag = models.CharField(_("asset tag"), max_length=64)
    terminal = models.ForeignKey(
        Terminal, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    result = models.CharField(_("result"), max_length=20, choices=ScanResult.choices)
    scanned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    scanned_at = models.DateTimeField(_("scanned at"), auto_now_add=True)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-scanned_at", "-id"]
        indexes = [models.Index(fields=["stocktake", "terminal"], name="scan_of_terminal")]
        constraints = [
            # A terminal counts once per location: of two people reading the same tag at the
            # same place at once, the database takes one; the other is "already scanned here"
            # (compliance.services, Scanning). Repeats, unknown tags and undone scans may recur.
            models.UniqueConstraint(
                fields=["stocktake", "terminal", "location"],
                condition=models.Q(
                    undone_at__isnull=True,
                    result__in=["expected_here", "belongs_elsewhere", "recorded_as_lent"],
                ),
                name="scan_once_per_location",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tag} ({self.result})"


class DiscrepancyKind(models.TextChoices):
    # found by a stock-take
    MISSING = "missing", _("Missing")
    FOUND_ELSEWHERE = "found_elsewhere", _("Found at another location")
    FOUND_BUT_LENT = "found_but_lent", _("Found but recorded as lent")
    UNKNOWN_TAG = "unknown_tag", _("Unknown tag")
    SCANNED_TWICE = "scanned_twice", _("Scanned at two locations")
    # found by a policy check
    OUTSIDE_SECURED_LOCATION = "outside_secured_location", _("Not lent, outside a secured location")
    UNLOCKED_NOT_LENT = "unlocked_not_lent", _("Account unlocked while not lent")
    ORPHAN_ACCOUNT = "orphan_account", _("Orphan account")
    RETIRED_TERMINAL_ACCOUNT = "retired_terminal_account", _("Account of a retired terminal")
    SECRET_TOO_OLD = "secret_too_old", _("Password older than its maximum age")
    ROTATION_FAILED_LONG = "rotation_failed_long", _("Rotation failed for more than a day")
    STOCKTAKE_OVERDUE = "stocktake_overdue", _("Stock-take overdue")
    # found at a return
    CARD_NOT_RETURNED = "card_not_returned", _("Access card not returned")


STOCKTAKE_KINDS = (
    DiscrepancyKind.MISSING,
    DiscrepancyKind.FOUND_ELSEWHERE,
    DiscrepancyKind.FOUND_BUT_LENT,
    DiscrepancyKind.UNKNOWN_TAG,
    DiscrepancyKind.SCANNED_TWICE,
)


class DiscrepancyStatus(models.TextChoices):
    OPEN = "open", _("Open")
    RESOLVED = "resolved", _("Resolved")


class DiscrepancyOutcome(models.TextChoices):
    FOUND = "found", _("Found (no change)")
    RELOCATED = "relocated", _("Relocated to where it was found")
    LOST_OR_STOLEN = "lost_or_stolen", _("Lost or stolen")
    WRITTEN_OFF = "written_off", _("Written off")
    ORPHAN_DELETED = "orphan_deleted", _("Orphan account deleted on its target")
    FIXED = "fixed", _("Fixed")


class Discrepancy(models.Model):
    """A difference between what should be and what is, for a security officer to review."""

    FORMER_AUDIT_LABELS = ("terminals.discrepancy",)  # before the move to compliance/

    Kind = DiscrepancyKind
    Status = DiscrepancyStatus
    Outcome = DiscrepancyOutcome

    kind = models.CharField(_("kind"), max_length=32, choices=DiscrepancyKind.choices)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=DiscrepancyStatus.choices,
        default=DiscrepancyStatus.OPEN,
    )
    # What it is about, as text: policy checks find each subject again by it on the next run.
    subject = models.CharField(_("subject"), max_length=200, db_index=True)
    stocktake = models.ForeignKey(
        StockTake,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="discrepancies",
        verbose_name=_("stock-take"),
    )
    location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("location"),
    )
    terminal = models.ForeignKey(
        Terminal,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="discrepancies",
        verbose_name=_("terminal"),
    )
    access_card = models.ForeignKey(
        AccessCard,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="discrepancies",
        verbose_name=_("access card"),
    )
    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="discrepancies",
        verbose_name=_("account"),
    )
    loan = models.ForeignKey(
        Loan,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="discrepancies",
        verbose_name=_("loan"),
    )
    details = models.JSONField(_("details"), default=dict)
    opened_at = models.DateTimeField(_("opened at"), auto_now_add=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("assignee"),
    )
    outcome = models.CharField(
        _("outcome"), max_length=20, choices=DiscrepancyOutcome.choices, blank=True
    )
    resolution_note = models.TextField(_("note"), blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name = _("discrepancy")
        verbose_name_plural = _("discrepancies")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=DiscrepancyStatus.values),
                name="discrepancy_status_valid",
            ),
            # A policy check finds a subject once while it stays open.
            models.UniqueConstraint(
                fields=["kind", "subject"],
                condition=models.Q(status="open", stocktake__isnull=True),
                name="discrepancy_one_open_finding",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.subject}"


class DiscrepancyEvidence(models.Model):
    """A photo or file attached to a discrepancy."""

    FORMER_AUDIT_LABELS = ("terminals.discrepancyevidence",)  # before the move to compliance/

    discrepancy = models.ForeignKey(Discrepancy, on_delete=models.CASCADE, related_name="evidence")
    file = models.FileField(_("file"), upload_to="evidence/%Y/%m/")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("evidence")
        verbose_name_plural = _("evidence")

    def __str__(self) -> str:
        name = self.file.name
        assert name is not None, "a FileField is never NULL: an empty one reads as ''"
        return name
