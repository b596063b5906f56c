from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from core.models import Organization
from core.phrases import describe
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


class Declaration(models.Model):
    """A declared disaster (非常災害体制の発令) for an area; lending only while it is active."""

    Status = DeclarationStatus
    ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
        DeclarationStatus.ACTIVE: frozenset({DeclarationStatus.LIFTED}),
        DeclarationStatus.LIFTED: frozenset({DeclarationStatus.CLOSED}),
        DeclarationStatus.CLOSED: frozenset(),
    }

    title = models.CharField(_("title"), max_length=200)
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
            )
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
