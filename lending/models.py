from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from core.models import Organization
from core.phrases import describe
from credentials.models import Account
from terminals.models import AccessCard, Location, Terminal


class DeclarationStatus(models.TextChoices):
    ACTIVE = "active", _("Active (declared)")
    LIFTED = "lifted", _("Lifted")
    CLOSED = "closed", _("Closed")


class RequestStatus(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")


class LoanStatus(models.TextChoices):
    CHECKING_OUT = "checking_out", _("Being handed out")
    OPEN = "open", _("On loan")
    RETURNED = "returned", _("Returned")
    LOST = "lost", _("Lost")
    ABANDONED = "abandoned", _("Hand-out failed")


class ReturnCondition(models.TextChoices):
    OK = "ok", _("OK")
    DAMAGED = "damaged", _("Damaged")
    PARTS_MISSING = "parts_missing", _("Parts missing")
    SEAL_BROKEN = "seal_broken", _("Seal broken")


class DeclarationKind(models.TextChoices):
    DISASTER = "disaster", _("Disaster declaration")
    # A time-boxed arrangement (暫定運用): lent under the same rules, ended by the service itself.
    ARRANGEMENT = "arrangement", _("Time-boxed arrangement")


class DataDisposition(models.TextChoices):
    RETURNED = "returned", _("Returned to the operator")
    DESTROYED = "destroyed", _("Destroyed")
    NONE_OBTAINED = "none_obtained", _("None were obtained")


class Declaration(models.Model):
    """A declared disaster (非常災害体制の発令) for an area; lending only while it is active.
    An approved time-boxed arrangement lends through one of kind `arrangement`."""

    Status = DeclarationStatus
    ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
        DeclarationStatus.ACTIVE: frozenset({DeclarationStatus.LIFTED}),
        DeclarationStatus.LIFTED: frozenset({DeclarationStatus.CLOSED}),
        DeclarationStatus.CLOSED: frozenset(),
    }

    title = models.CharField(_("title"), max_length=200)
    kind = models.CharField(
        _("kind"), max_length=16, choices=DeclarationKind.choices, default=DeclarationKind.DISASTER
    )
    sites = models.ManyToManyField(
        Location,
        verbose_name=_("area (sites)"),
        related_name="declarations",
        limit_choices_to={"kind": Location.Kind.SITE},
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=DeclarationStatus.choices,
        default=DeclarationStatus.ACTIVE,
    )
    declared_at = models.DateTimeField(_("declared at"))
    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("declared by"),
    )
    # Requests may not ask for terminals beyond this time (empty: no limit until lifted).
    lending_limit = models.DateTimeField(_("lending limit"), null=True, blank=True)
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)
    # The lift's grace: loans still out are due this many hours after lifted_at (the check-out
    # that finishes after the lift, and the access-log analysis, read it here).
    grace_hours = models.PositiveIntegerField(
        _("grace after the lift (hours)"), null=True, blank=True
    )
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-declared_at"]
        verbose_name = _("declaration")
        verbose_name_plural = _("declarations")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=DeclarationStatus.values), name="declaration_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=DeclarationKind.values), name="declaration_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class AccessRequest(models.Model):
    """A contractor's web-form request (貸与申請) for terminals under one declaration."""

    Status = RequestStatus
    ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
        RequestStatus.SUBMITTED: frozenset(
            {RequestStatus.APPROVED, RequestStatus.REJECTED, RequestStatus.CANCELLED}
        ),
        RequestStatus.APPROVED: frozenset({RequestStatus.CANCELLED}),
        RequestStatus.REJECTED: frozenset(),
        RequestStatus.CANCELLED: frozenset(),
    }

    declaration = models.ForeignKey(
        Declaration,
        on_delete=models.PROTECT,
        related_name="requests",
        verbose_name=_("declaration"),
    )
    contractor = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="access_requests",
        verbose_name=_("contractor"),
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("submitted by"),
    )
    submitted_at = models.DateTimeField(_("submitted at"), auto_now_add=True)
    work_site = models.CharField(_("work site"), max_length=300)
    quantity = models.PositiveSmallIntegerField(_("number of terminals"))
    operators = models.JSONField(_("operators"), default=list)
    purpose = models.TextField(_("purpose"))
    needed_until = models.DateTimeField(_("needed until"))
    status = models.CharField(
        _("status"), max_length=16, choices=RequestStatus.choices, default=RequestStatus.SUBMITTED
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_reason = models.TextField(_("reason"), blank=True)
    # A decision the system made (the declaration was lifted), put into words when read.
    decision_phrase = models.JSONField(_("reason (system)"), null=True, blank=True)

    class Meta:
        ordering = ["-submitted_at"]
        verbose_name = _("access request")
        verbose_name_plural = _("access requests")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=RequestStatus.values), name="request_status_valid"
            ),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="request_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.contractor.name} ({self.quantity})"

    @property
    def decision_reason_text(self) -> str:
        return describe(self.decision_phrase) if self.decision_phrase else self.decision_reason


def acknowledgement_parts(text: str) -> list[tuple[str, str]]:
    """The bilingual acknowledgement as (language, text) pairs, the reader's language first. The
    text signed is stored whole ("English / 日本語"); only the order shown depends on the reader."""
    english, separator, japanese = text.partition(" / ")
    if not separator:
        return [("", text)]
    parts = [("en", english), ("ja", japanese)]
    return parts[::-1] if get_language() == "ja" else parts


class Loan(models.Model):
    """One terminal (with its cards) lent against one approved request."""

    Status = LoanStatus
    ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
        LoanStatus.CHECKING_OUT: frozenset({LoanStatus.OPEN, LoanStatus.ABANDONED}),
        LoanStatus.OPEN: frozenset({LoanStatus.RETURNED, LoanStatus.LOST}),
        LoanStatus.RETURNED: frozenset(),
        LoanStatus.LOST: frozenset(),
        LoanStatus.ABANDONED: frozenset(),
    }
    # Statuses in which the terminal is out of the operator's hands (or on its way out).
    OUT = (LoanStatus.CHECKING_OUT, LoanStatus.OPEN)

    request = models.ForeignKey(
        AccessRequest,
        on_delete=models.PROTECT,
        related_name="loans",
        verbose_name=_("access request"),
    )
    terminal = models.ForeignKey(
        Terminal, on_delete=models.PROTECT, related_name="loans", verbose_name=_("terminal")
    )
    cards = models.ManyToManyField(
        AccessCard, blank=True, related_name="loans", verbose_name=_("access cards")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=LoanStatus.choices, default=LoanStatus.CHECKING_OUT
    )
    work_site = models.CharField(_("work site"), max_length=300)
    operator_name = models.CharField(_("operator who received it"), max_length=150)
    handed_out_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("handed out by"),
    )
    checked_out_at = models.DateTimeField(_("checked out at"))
    due_at = models.DateTimeField(_("due"))
    # The operator's signed acknowledgement of the handling rules (情報取扱いに関する誓約).
    acknowledgement_text = models.TextField(_("acknowledgement"))
    acknowledged_name = models.CharField(_("signed by"), max_length=150)
    acknowledged_at = models.DateTimeField(_("signed at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revocation_reason = models.TextField(_("revocation reason"), blank=True)
    last_overdue_notice_at = models.DateTimeField(null=True, blank=True)
    due_soon_notice_at = models.DateTimeField(null=True, blank=True)
    # A check-out the supervision rules refused, allowed by a security officer's exception.
    supervision_exception = models.ForeignKey(
        "SupervisionException",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="loans",
        verbose_name=_("supervision exception"),
    )

    class Meta:
        ordering = ["-checked_out_at"]
        permissions = [
            ("revoke_loan", "Can revoke a loan or declare it lost"),
            ("reveal_own_loan", "Can reveal the credentials of their own loan once"),
            # Without it (contractors), a user sees only their own organization's requests and
            # loans, and only active declarations.
            ("oversee_lending", "Can see every contractor's requests and loans"),
        ]
        verbose_name = _("loan")
        verbose_name_plural = _("loans")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=LoanStatus.values), name="loan_status_valid"
            ),
            # The database's backstop against lending one terminal twice.
            models.UniqueConstraint(
                fields=["terminal"],
                condition=Q(status__in=["checking_out", "open"]),
                name="loan_one_out_per_terminal",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.terminal} → {self.request.contractor.name}"

    @property
    def acknowledgement_in_reading_order(self) -> list[tuple[str, str]]:
        return acknowledgement_parts(self.acknowledgement_text)


class ReturnConfirmation(models.Model):
    """The recorded check-in (返却確認), confirmed by both sides."""

    Condition = ReturnCondition

    loan = models.OneToOneField(Loan, on_delete=models.PROTECT, related_name="return_confirmation")
    returned_at = models.DateTimeField(_("returned at"))
    condition = models.CharField(_("condition"), max_length=16, choices=ReturnCondition.choices)
    cards_returned = models.ManyToManyField(
        AccessCard, blank=True, related_name="+", verbose_name=_("cards returned")
    )
    return_location = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="+", verbose_name=_("return location")
    )
    handed_back_by = models.CharField(_("operator who handed it back"), max_length=150)
    operator_signature = models.CharField(_("operator's signature"), max_length=150)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("received by"),
    )
    notes = models.TextField(_("notes"), blank=True)
    # What became of the data and printouts obtained for the work (the plans require it).
    data_disposition = models.CharField(
        _("data and printouts"), max_length=16, choices=DataDisposition.choices, blank=True
    )
    # Set when the terminal left `returned`: to storage (inspection ok) or to maintenance.
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)

    class Meta:
        verbose_name = _("return confirmation")
        verbose_name_plural = _("return confirmations")
        constraints = [
            models.CheckConstraint(
                condition=Q(condition__in=ReturnCondition.values), name="return_condition_valid"
            )
        ]

    def __str__(self) -> str:
        return f"return of {self.loan}"


# Contractor supervision (委託先の監督) -----------------------------------------------------------


class ReportOutcome(models.TextChoices):
    PENDING = "pending", _("Awaiting review")
    ACCEPTED = "accepted", _("Confirmed")
    REJECTED = "rejected", _("Rejected")


class ContractorReport(models.Model):
    """A contractor's yearly confidentiality and security management report with its checklist
    (機密保持・セキュリティ管理報告書, チェックリスト), and its review by the operator."""

    Outcome = ReportOutcome
    ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
        ReportOutcome.PENDING: frozenset({ReportOutcome.ACCEPTED, ReportOutcome.REJECTED}),
        ReportOutcome.ACCEPTED: frozenset(),
        ReportOutcome.REJECTED: frozenset(),
    }

    contractor = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="supervision_reports",
        verbose_name=_("contractor"),
    )
    period_start = models.DateField(_("covers from"))
    period_end = models.DateField(_("covers until"))
    # The checklist's answers: {question code: answer}.
    answers = models.JSONField(_("checklist answers"), default=dict)
    file = models.FileField(_("file"), upload_to="contractor-reports/%Y/", blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField(_("submitted at"), auto_now_add=True)
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=ReportOutcome.choices, default=ReportOutcome.PENDING
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    review_note = models.TextField(_("review note"), blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period_end", "-id"]
        verbose_name = _("contractor report")
        verbose_name_plural = _("contractor reports")
        constraints = [
            models.CheckConstraint(
                condition=Q(period_start__lte=models.F("period_end")),
                name="contractor_report_period_ordered",
            ),
            models.CheckConstraint(
                condition=Q(outcome__in=ReportOutcome.values), name="contractor_report_outcome"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contractor} {self.period_start}–{self.period_end}"


class ContractorAudit(models.Model):
    """An audit of a contractor by the operator: what was found and the follow-up."""

    contractor = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="supervision_audits",
        verbose_name=_("contractor"),
    )
    audited_on = models.DateField(_("audited on"))
    finding = models.TextField(_("finding"))
    follow_up = models.TextField(_("follow-up"), blank=True)
    follow_up_due = models.DateField(_("follow-up due"), null=True, blank=True)
    follow_up_done_at = models.DateTimeField(_("follow-up done"), null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-audited_on", "-id"]
        verbose_name = _("contractor audit")
        verbose_name_plural = _("contractor audits")

    def __str__(self) -> str:
        return f"{self.contractor} {self.audited_on}"


class OperatorTraining(models.Model):
    """A named operator's training, as the operator educates its own staff, and their signed
    undertaking to use personal data only for disaster work (誓約書)."""

    contractor = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="operator_trainings",
        verbose_name=_("contractor"),
    )
    operator_name = models.CharField(_("operator"), max_length=150)
    course = models.CharField(_("course"), max_length=200)
    completed_on = models.DateField(_("completed on"))
    expires_on = models.DateField(_("expires on"))
    # Empty until the operator has signed the undertaking: their training is not current before.
    undertaking_signed_on = models.DateField(_("undertaking signed on"), null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["contractor", "operator_name", "-expires_on"]
        verbose_name = _("operator training")
        verbose_name_plural = _("operator trainings")
        constraints = [
            models.CheckConstraint(
                condition=Q(completed_on__lte=models.F("expires_on")),
                name="operator_training_dates_ordered",
            ),
        ]
        indexes = [models.Index(fields=["contractor", "operator_name"], name="training_of")]

    def __str__(self) -> str:
        return f"{self.operator_name} ({self.course})"


class SupervisionException(models.Model):
    """A recorded, time-limited exception to the supervision rules during a declared disaster,
    granted by a security officer: for the contractor, or for one named operator."""

    declaration = models.ForeignKey(
        Declaration,
        on_delete=models.PROTECT,
        related_name="supervision_exceptions",
        verbose_name=_("declaration"),
    )
    contractor = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="+", verbose_name=_("contractor")
    )
    # Empty: the contractor's report; a name: that operator's training.
    operator_name = models.CharField(_("operator"), max_length=150, blank=True)
    reason = models.TextField(_("reason"))
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    granted_at = models.DateTimeField(_("granted at"))
    expires_at = models.DateTimeField(_("expires at"))

    class Meta:
        ordering = ["-granted_at", "-id"]
        verbose_name = _("supervision exception")
        verbose_name_plural = _("supervision exceptions")
        constraints = [
            models.CheckConstraint(
                condition=Q(granted_at__lt=models.F("expires_at")),
                name="supervision_exception_time_limited",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contractor} {self.operator_name}".strip()


# Time-boxed arrangements (暫定運用) --------------------------------------------------------------


class ArrangementStatus(models.TextChoices):
    PROPOSED = "proposed", _("Awaiting approval")
    ACTIVE = "active", _("Active")
    REJECTED = "rejected", _("Rejected")
    ENDED = "ended", _("Ended")


class Arrangement(models.Model):
    """An agreed provisional use with a hard end date, approved by a second security officer.
    Lending under it goes through its declaration (kind `arrangement`), made at approval."""

    Status = ArrangementStatus
    ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
        ArrangementStatus.PROPOSED: frozenset(
            {ArrangementStatus.ACTIVE, ArrangementStatus.REJECTED}
        ),
        ArrangementStatus.ACTIVE: frozenset({ArrangementStatus.ENDED}),
        ArrangementStatus.REJECTED: frozenset(),
        ArrangementStatus.ENDED: frozenset(),
    }

    title = models.CharField(_("title"), max_length=200)
    reason = models.TextField(_("reason"))
    parties = models.ManyToManyField(
        Organization, related_name="arrangements", verbose_name=_("parties")
    )
    terminals = models.ManyToManyField(
        Terminal, blank=True, related_name="arrangements", verbose_name=_("terminals")
    )
    accounts = models.ManyToManyField(
        Account, blank=True, related_name="arrangements", verbose_name=_("accounts")
    )
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("hard end"))
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=ArrangementStatus.choices,
        default=ArrangementStatus.PROPOSED,
    )
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    proposed_at = models.DateTimeField(_("proposed at"), auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    declaration = models.OneToOneField(
        Declaration,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="arrangement",
        verbose_name=_("declaration"),
    )
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        ordering = ["ends_at", "-id"]
        verbose_name = _("arrangement")
        verbose_name_plural = _("arrangements")
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_at__lt=models.F("ends_at")), name="arrangement_period_ordered"
            ),
            models.CheckConstraint(
                condition=Q(status__in=ArrangementStatus.values), name="arrangement_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class ExtensionStatus(models.TextChoices):
    PROPOSED = "proposed", _("Awaiting approval")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class ArrangementExtension(models.Model):
    """A request to move an arrangement's hard end, with its reason and second approval."""

    ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
        ExtensionStatus.PROPOSED: frozenset({ExtensionStatus.APPROVED, ExtensionStatus.REJECTED}),
        ExtensionStatus.APPROVED: frozenset(),
        ExtensionStatus.REJECTED: frozenset(),
    }

    arrangement = models.ForeignKey(
        Arrangement, on_delete=models.PROTECT, related_name="extensions"
    )
    previous_ends_at = models.DateTimeField(_("previous end"))
    new_ends_at = models.DateTimeField(_("new end"))
    reason = models.TextField(_("reason"))
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=ExtensionStatus.choices,
        default=ExtensionStatus.PROPOSED,
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("arrangement extension")
        verbose_name_plural = _("arrangement extensions")
        constraints = [
            models.CheckConstraint(
                condition=Q(previous_ends_at__lt=models.F("new_ends_at")),
                name="extension_moves_end_later",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ExtensionStatus.values), name="extension_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.arrangement} → {self.new_ends_at:%Y-%m-%d}"
