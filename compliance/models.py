"""Stock-takes (棚卸し・現品照合), their scans and the inventory's snapshot, and discrepancies:
the differences a stock-take, a policy check or a return finds, for security to review.

The tables were created by terminals/ and moved here with their rows (migration 0001)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from credentials.models import Account, TargetSystem
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
        verbose_name = _("stock-take expectation")
        verbose_name_plural = _("stock-take expectations")
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
        verbose_name = _("scan")
        verbose_name_plural = _("scans")
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
    CUSTODIAN_NOT_OPERATOR = (
        "custodian_not_operator",
        _("Not lent, kept by a company other than a network operator"),
    )
    UNLOCKED_NOT_LENT = "unlocked_not_lent", _("Account unlocked while not lent")
    UNLOCKED_ON_DIRECTORY = (
        "unlocked_on_directory",
        _("Unlocked on its target, locked in the service"),
    )
    ORPHAN_ACCOUNT = "orphan_account", _("Orphan account")
    # The directory did not answer the policy check: the two findings above were not checked.
    DIRECTORY_UNCHECKED = "directory_unchecked", _("Directory could not be checked")
    RETIRED_TERMINAL_ACCOUNT = "retired_terminal_account", _("Account of a retired terminal")
    SECRET_TOO_OLD = "secret_too_old", _("Password older than its maximum age")
    ROTATION_FAILED_LONG = "rotation_failed_long", _("Rotation failed for more than a day")
    STOCKTAKE_OVERDUE = "stocktake_overdue", _("Stock-take overdue")
    ARRANGEMENT_TERMINAL_OUT = (
        "arrangement_terminal_out",
        _("Terminal still out after its arrangement ended"),
    )
    # found at a return
    CARD_NOT_RETURNED = "card_not_returned", _("Access card not returned")
    # found in a target system's access log (the rules of compliance.access_log_rules)
    SIGN_IN_NOT_LENT = "sign_in_not_lent", _("Sign-in while the terminal was not lent")
    SIGN_IN_OLD_LOGIN_ID = "sign_in_old_login_id", _("Sign-in with a login ID already rotated away")
    SIGN_IN_FOREIGN_HOST = "sign_in_foreign_host", _("Sign-in from another host than the terminal")
    SIGN_IN_AFTER_WINDOW = "sign_in_after_window", _("Sign-in after the lift or the due time")
    SIGN_IN_FAILURE_BURST = "sign_in_failure_burst", _("Burst of failed sign-ins")
    SIGN_IN_UNKNOWN_LOGIN_ID = "sign_in_unknown_login_id", _("Sign-in with a login ID never issued")
    SIGN_IN_TERMINAL_NOT_LENT = (
        "sign_in_terminal_not_lent",
        _("Sign-in from a terminal that is not lent"),
    )


STOCKTAKE_KINDS = (
    DiscrepancyKind.MISSING,
    DiscrepancyKind.FOUND_ELSEWHERE,
    DiscrepancyKind.FOUND_BUT_LENT,
    DiscrepancyKind.UNKNOWN_TAG,
    DiscrepancyKind.SCANNED_TWICE,
)


SIGN_IN_KINDS = (
    DiscrepancyKind.SIGN_IN_NOT_LENT,
    DiscrepancyKind.SIGN_IN_OLD_LOGIN_ID,
    DiscrepancyKind.SIGN_IN_FOREIGN_HOST,
    DiscrepancyKind.SIGN_IN_AFTER_WINDOW,
    DiscrepancyKind.SIGN_IN_FAILURE_BURST,
    DiscrepancyKind.SIGN_IN_UNKNOWN_LOGIN_ID,
    DiscrepancyKind.SIGN_IN_TERMINAL_NOT_LENT,
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
    sign_in = models.ForeignKey(
        "SignInEvent",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="discrepancies",
        verbose_name=_("sign-in"),
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
            # A sign-in is a fact of the past: each rule judges it once, resolved or not.
            models.UniqueConstraint(
                fields=["kind", "subject"],
                condition=models.Q(kind__in=[kind.value for kind in SIGN_IN_KINDS]),
                name="discrepancy_sign_in_judged_once",
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


# Access logs (アクセスログ): what the target systems saw ------------------------------------------


class AccessLogFormat(models.TextChoices):
    CSV = "csv", _("CSV")
    JSON_LINES = "jsonl", _("JSON lines")
    SLAPD = "slapd", _("OpenLDAP slapd stats log")


class AccessLogMapping(models.Model):
    """How a target system's exported access log reads: which column (CSV header or JSON key)
    holds what, the time's format and zone, and the values meaning success and failure. Kept by
    security, one per target system."""

    target_system = models.OneToOneField(
        TargetSystem,
        on_delete=models.CASCADE,
        related_name="access_log_mapping",
        verbose_name=_("target system"),
    )
    time_column = models.CharField(_("time column"), max_length=100, default="time")
    login_id_column = models.CharField(_("login ID column"), max_length=100, default="login_id")
    result_column = models.CharField(_("result column"), max_length=100, default="result")
    source_host_column = models.CharField(
        _("source host column"), max_length=100, blank=True, default="host"
    )
    source_address_column = models.CharField(
        _("source address column"), max_length=100, blank=True, default="address"
    )
    # A strftime format, or empty for ISO 8601; a time without an offset is in `time_zone`.
    time_format = models.CharField(_("time format"), max_length=64, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="Asia/Tokyo")
    success_values = models.CharField(
        _("values meaning success"), max_length=200, default="success,ok,0"
    )
    failure_values = models.CharField(
        _("values meaning failure"), max_length=200, default="failure,fail,failed,denied,1"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("access log mapping")
        verbose_name_plural = _("access log mappings")

    def __str__(self) -> str:
        return str(self.target_system)


class IngestionSource(models.TextChoices):
    UPLOAD = "upload", _("Uploaded on the page")
    API = "api", _("Sent to the API")
    COMMAND = "command", _("Read by the command")


class IngestionStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Reading")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class AccessLogIngestion(models.Model):
    """One access log read in: who sent it, from where, and what became of its lines."""

    ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
        IngestionStatus.QUEUED: frozenset({IngestionStatus.RUNNING, IngestionStatus.FAILED}),
        # A worker killed mid-file leaves it running; the sweeper reads it again from the start
        # (lines already stored count as duplicates).
        IngestionStatus.RUNNING: frozenset(
            {IngestionStatus.RUNNING, IngestionStatus.DONE, IngestionStatus.FAILED}
        ),
        IngestionStatus.DONE: frozenset(),
        IngestionStatus.FAILED: frozenset(),
    }

    target_system = models.ForeignKey(
        TargetSystem, on_delete=models.PROTECT, related_name="+", verbose_name=_("target system")
    )
    format = models.CharField(_("format"), max_length=8, choices=AccessLogFormat.choices)
    source = models.CharField(_("source"), max_length=8, choices=IngestionSource.choices)
    file_name = models.CharField(_("file name"), max_length=255, blank=True)
    # The file waits here for the worker, and is removed once read.
    file = models.FileField(upload_to="access-logs/%Y/%m/", blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        _("status"),
        max_length=8,
        choices=IngestionStatus.choices,
        default=IngestionStatus.QUEUED,
    )
    lines_read = models.PositiveIntegerField(_("lines read"), default=0)
    accepted = models.PositiveIntegerField(_("accepted"), default=0)
    malformed = models.PositiveIntegerField(_("malformed"), default=0)
    duplicates = models.PositiveIntegerField(_("duplicates"), default=0)
    # The first malformed lines: [{"line": n, "reason": "..."}], capped.
    problems = models.JSONField(_("problems"), default=list)
    error = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    # When its worker last stored a batch: a running ingestion whose progress stopped is read
    # again by the sweeper, and a worker that finds it changed by another stops.
    progressed_at = models.DateTimeField(_("last progress"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("access log ingestion")
        verbose_name_plural = _("access log ingestions")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=IngestionStatus.values),
                name="ingestion_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.target_system.code} {self.file_name or self.pk}"


class SignInResult(models.TextChoices):
    SUCCESS = "success", _("Success")
    FAILURE = "failure", _("Failure")


class SignInEvent(models.Model):
    """One sign-in a target system logged, as read from its access log."""

    target_system = models.ForeignKey(
        TargetSystem, on_delete=models.PROTECT, related_name="+", verbose_name=_("target system")
    )
    ingestion = models.ForeignKey(
        AccessLogIngestion, on_delete=models.PROTECT, related_name="events"
    )
    occurred_at = models.DateTimeField(_("time"))
    login_id = models.CharField(_("login ID"), max_length=64)
    result = models.CharField(_("result"), max_length=8, choices=SignInResult.choices)
    source_host = models.CharField(_("source host"), max_length=255, blank=True)
    source_address = models.GenericIPAddressField(_("source address"), null=True, blank=True)
    line_number = models.PositiveIntegerField(_("line"))
    raw_line = models.TextField(_("log line"))
    # sha256 of the target and the line as read: the same line sent twice is stored once.
    fingerprint = models.CharField(max_length=64)
    received_at = models.DateTimeField(_("received"), auto_now_add=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        verbose_name = _("sign-in")
        verbose_name_plural = _("sign-ins")
        constraints = [
            models.UniqueConstraint(
                fields=["target_system", "fingerprint"], name="sign_in_stored_once"
            ),
            models.CheckConstraint(
                condition=models.Q(result__in=SignInResult.values), name="sign_in_result_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["target_system", "login_id", "occurred_at"], name="sign_in_by_id"),
            models.Index(fields=["occurred_at"], name="sign_in_by_time"),
        ]

    def __str__(self) -> str:
        return f"{self.login_id}@{self.occurred_at:%Y-%m-%d %H:%M:%S}"


class AccessLogAnalysis(models.Model):
    """One run of the access-log rules: the sign-ins it judged (those stored after the previous
    run's last one) and what it found."""

    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    first_event_id = models.BigIntegerField(default=0)
    last_event_id = models.BigIntegerField(default=0)
    events = models.PositiveIntegerField(default=0)
    findings = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("access log analysis")
        verbose_name_plural = _("access log analyses")

    def __str__(self) -> str:
        return f"{self.first_event_id}-{self.last_event_id}"


# Internal audit (内部監査) ---------------------------------------------------------------------


class AuditReportStatus(models.TextChoices):
    PRODUCING = "producing", _("Being produced")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")


class AuditReport(models.Model):
    """What the internal audit checks over one period, with a digest of its CSV files recorded
    in the audit trail so that a later reader can tell it was not edited."""

    Status = AuditReportStatus
    # A failed report stays failed: whoever needs it requests a new one (compliance.audit_report).
    ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
        AuditReportStatus.PRODUCING: frozenset({AuditReportStatus.READY, AuditReportStatus.FAILED}),
        AuditReportStatus.READY: frozenset(),
        AuditReportStatus.FAILED: frozenset(),
    }

    period_start = models.DateField(_("from"))
    period_end = models.DateField(_("to"))
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=AuditReportStatus.choices,
        default=AuditReportStatus.PRODUCING,
    )
    produced_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(_("requested"), auto_now_add=True)
    produced_at = models.DateTimeField(_("produced"), null=True, blank=True)
    # sha256 over the sections' own digests in order: what the audit event records.
    digest = models.CharField(_("digest"), max_length=64, blank=True)
    chain_verification = models.JSONField(_("audit trail verification"), default=dict)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("audit report")
        verbose_name_plural = _("audit reports")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(period_start__lte=models.F("period_end")),
                name="audit_report_period_ordered",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=AuditReportStatus.values),
                name="audit_report_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period_start} – {self.period_end}"


class AuditReportSection(models.Model):
    """One section of an audit report, as the CSV file it is delivered in."""

    report = models.ForeignKey(AuditReport, on_delete=models.CASCADE, related_name="sections")
    name = models.CharField(max_length=64)
    position = models.PositiveSmallIntegerField()
    rows = models.PositiveIntegerField(default=0)
    csv = models.TextField()
    sha256 = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("audit report section")
        verbose_name_plural = _("audit report sections")
        ordering = ["report", "position"]
        constraints = [
            models.UniqueConstraint(fields=["report", "name"], name="audit_report_section_once")
        ]

    def __str__(self) -> str:
        return self.name
