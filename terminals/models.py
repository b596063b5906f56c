from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower, Trim, Upper
from django.utils.translation import gettext_lazy as _

from core.fields import CodeField
from core.models import Organization
from core.phrases import describe
from terminals.validators import validate_hostname

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class LocationKind(models.TextChoices):
    SITE = "site", _("Site")
    BUILDING = "building", _("Building")
    FLOOR = "floor", _("Floor")
    ROOM = "room", _("Room")
    CABINET = "cabinet", _("Cabinet")


class TerminalStatus(models.TextChoices):
    IN_STORAGE = "in_storage", _("In storage")
    RESERVED = "reserved", _("Reserved")
    LENT = "lent", _("Lent")
    RETURNED = "returned", _("Returned (awaiting rotation)")
    MAINTENANCE = "maintenance", _("Maintenance")
    LOST = "lost", _("Lost")
    RETIRED = "retired", _("Retired")


class AccessCardKind(models.TextChoices):
    ENTRY = "entry", _("Entry card")
    SIGN_IN = "sign_in", _("Terminal sign-in card")


class AccessCardStatus(models.TextChoices):
    IN_STORAGE = "in_storage", _("In storage")
    LENT = "lent", _("Lent")
    LOST = "lost", _("Lost")
    RETIRED = "retired", _("Retired")


class Location(models.Model):
    """A node of the location tree: site > building > floor > room > cabinet."""

    Kind = LocationKind

    # Depth of each kind; a child must be deeper than its parent, and only sites have no parent.
    DEPTH = {Kind.SITE: 0, Kind.BUILDING: 1, Kind.FLOOR: 2, Kind.ROOM: 3, Kind.CABINET: 4}

    code = CodeField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
    )
    # "/<site pk>/<building pk>/.../<own pk>/": subtree and site filters with one LIKE prefix.
    path = models.CharField(max_length=255, db_index=True, editable=False)
    site = models.ForeignKey(
        "self",
        verbose_name=_("site"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    address = models.CharField(_("address"), max_length=300, blank=True)
    custodian = models.ForeignKey(
        Organization, verbose_name=_("custodian"), on_delete=models.PROTECT, related_name="+"
    )
    secured = models.BooleanField(_("secured (locked, access-controlled)"), default=False)
    # Sites only: how often the scheduler opens a stock-take here.
    stocktake_interval_days = models.PositiveSmallIntegerField(
        _("stock-take interval (days)"), default=30
    )

    class Meta:
        ordering = ["path"]
        verbose_name = _("location")
        verbose_name_plural = _("locations")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=LocationKind.values), name="location_kind_valid"
            ),
            models.CheckConstraint(
                condition=(models.Q(kind="site") & models.Q(parent__isnull=True))
                | (~models.Q(kind="site") & models.Q(parent__isnull=False)),
                name="location_only_sites_are_roots",
            ),
            models.CheckConstraint(
                condition=models.Q(code=Lower(Trim("code"))), name="location_code_normalised"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def depth(self) -> int:
        return self.path.count("/") - 2

    @property
    def is_approved_storage(self) -> bool:
        """Secured and kept by a network operator: where a terminal not on loan must be."""
        return self.secured and self.custodian.kind == Organization.Kind.NETWORK_OPERATOR


class Terminal(models.Model):
    Status = TerminalStatus

    # The one place that says which status may follow which (DESIGN.md, Terminal states).
    # Reserved, lent and returned are reached only through lending.
    ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
        Status.IN_STORAGE: frozenset(
            {Status.RESERVED, Status.MAINTENANCE, Status.LOST, Status.RETIRED}
        ),
        Status.RESERVED: frozenset(
            {Status.LENT, Status.IN_STORAGE, Status.MAINTENANCE, Status.LOST, Status.RETIRED}
        ),
        Status.LENT: frozenset({Status.RETURNED, Status.MAINTENANCE, Status.LOST, Status.RETIRED}),
        Status.RETURNED: frozenset(
            {Status.IN_STORAGE, Status.MAINTENANCE, Status.LOST, Status.RETIRED}
        ),
        Status.MAINTENANCE: frozenset({Status.IN_STORAGE, Status.LOST, Status.RETIRED}),
        # A lost terminal that turns up is inspected before it is stored again.
        Status.LOST: frozenset({Status.MAINTENANCE, Status.RETIRED}),
        Status.RETIRED: frozenset(),
    }
    # Out of the operator's custody on purpose: the storage rule does not apply.
    AWAY_STATUSES = frozenset({Status.LENT, Status.LOST, Status.RETIRED})

    asset_tag = models.CharField(_("asset tag"), max_length=64, unique=True)
    serial_number = models.CharField(_("serial number"), max_length=128, blank=True)
    hostname = models.CharField(_("hostname"), max_length=128, blank=True)
    model_name = models.CharField(_("model"), max_length=128, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.IN_STORAGE
    )
    location = models.ForeignKey(
        Location, verbose_name=_("location"), on_delete=models.PROTECT, related_name="terminals"
    )
    custodian = models.ForeignKey(
        Organization, verbose_name=_("custodian"), on_delete=models.PROTECT, related_name="+"
    )
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["asset_tag"]
        verbose_name = _("terminal")
        verbose_name_plural = _("terminals")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=TerminalStatus.values),
                name="terminal_status_valid",
            ),
            # Stored in its one form (core.identifiers), so that uniqueness holds for nw-0001
            # and NW-0001 alike.
            models.CheckConstraint(
                condition=models.Q(asset_tag=Upper(Trim("asset_tag"))),
                name="terminal_asset_tag_normalised",
            ),
        ]
        indexes = [models.Index(fields=["status"]), models.Index(fields=["serial_number"])]

    def __str__(self) -> str:
        return self.asset_tag

    def clean(self) -> None:
        super().clean()
        try:
            validate_hostname(self.hostname)
        except ValidationError as exc:
            raise ValidationError({"hostname": exc.messages}) from exc

    def storage_warnings(self) -> "list[StrOrPromise]":
        """Why this terminal breaks the custody rule now (empty when it does not)."""
        if self.status in self.AWAY_STATUSES:
            return []
        warnings: list[StrOrPromise] = []
        if not self.location.secured:
            warnings.append(_("Not lent, but its location is not secured."))
        if self.location.custodian.kind != Organization.Kind.NETWORK_OPERATOR:
            warnings.append(_("Not lent, but its location is not kept by a network operator."))
        if self.custodian.kind != Organization.Kind.NETWORK_OPERATOR:
            warnings.append(_("Not lent, but its custodian is not a network operator."))
        return warnings


class TerminalAddress(models.Model):
    """A network address a terminal signs in from, for judging access logs: an address belongs to
    one terminal at a time."""

    terminal = models.ForeignKey(
        Terminal, verbose_name=_("terminal"), on_delete=models.CASCADE, related_name="addresses"
    )
    address = models.GenericIPAddressField(_("network address"), unique=True)

    class Meta:
        ordering = ["address"]
        verbose_name = _("terminal address")
        verbose_name_plural = _("terminal addresses")

    def __str__(self) -> str:
        return self.address


class Movement(models.Model):
    """One change of a terminal's location or status: its history."""

    terminal = models.ForeignKey(
        Terminal, verbose_name=_("terminal"), on_delete=models.PROTECT, related_name="movements"
    )
    occurred_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    from_location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("from location"),
    )
    to_location = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="+", verbose_name=_("to location")
    )
    from_status = models.CharField(
        _("from status"), max_length=16, choices=Terminal.Status.choices, blank=True
    )
    to_status = models.CharField(_("to status"), max_length=16, choices=Terminal.Status.choices)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    # What the system wrote instead of a person's reason, put into words when read (core.phrases).
    reason_phrase = models.JSONField(_("reason (system)"), null=True, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = _("movement")
        verbose_name_plural = _("movements")

    def __str__(self) -> str:
        return f"{self.terminal}: {self.from_status}->{self.to_status}"

    @property
    def reason_text(self) -> str:
        return describe(self.reason_phrase) if self.reason_phrase else self.reason


class AccessCard(models.Model):
    Kind = AccessCardKind
    Status = AccessCardStatus

    ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
        Status.IN_STORAGE: frozenset({Status.LENT, Status.LOST, Status.RETIRED}),
        Status.LENT: frozenset({Status.IN_STORAGE, Status.LOST, Status.RETIRED}),
        Status.LOST: frozenset({Status.IN_STORAGE, Status.RETIRED}),
        Status.RETIRED: frozenset(),
    }

    card_number = models.CharField(_("card number"), max_length=64, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.IN_STORAGE
    )
    location = models.ForeignKey(
        Location,
        verbose_name=_("location"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="access_cards",
    )
    terminal = models.ForeignKey(
        Terminal,
        verbose_name=_("terminal"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="access_cards",
    )
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["card_number"]
        verbose_name = _("access card")
        verbose_name_plural = _("access cards")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=AccessCardStatus.values),
                name="accesscard_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=AccessCardKind.values), name="accesscard_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(card_number=Upper(Trim("card_number"))),
                name="accesscard_number_normalised",
            ),
        ]

    def __str__(self) -> str:
        return self.card_number
