from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower, Trim
from django.utils.translation import gettext_lazy as _

from core.fields import CodeField
from terminals.models import Terminal


class ConnectorKind(models.TextChoices):
    LOCAL = "local", _("Local (this service is the source of truth)")
    LDAP = "ldap", _("LDAP directory")
    MANUAL = "manual", _("Manual (an administrator sets it by hand)")


class AccountState(models.TextChoices):
    LOCKED = "locked", _("Locked")
    UNLOCKED = "unlocked", _("Unlocked")
    ROTATION_PENDING = "rotation_pending", _("Rotation pending")
    ROTATION_FAILED = "rotation_failed", _("Rotation failed")
    DELETED = "deleted", _("Deleted")


class SecretStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    CURRENT = "current", _("Current")
    RETIRED = "retired", _("Retired")


class RotationStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    AWAITING_ADMIN = "awaiting_admin", _("Waiting for the administrator to set it")
    AWAITING_VERIFICATION = "awaiting_verification", _("Waiting for a second person to verify")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class RotationReason(models.TextChoices):
    INITIAL = "initial", _("New account")
    RETURN = "return", _("Terminal returned")
    SCHEDULED = "scheduled", _("Secret older than its maximum age")
    FORCED = "forced", _("Forced by a security officer")
    REVOKED = "revoked", _("Loan revoked")
    RETRY = "retry", _("Retry of a failed rotation")


class TargetSystem(models.Model):
    """A system terminals sign in to, how to reach it, and the rules for its IDs and passwords."""

    code = CodeField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    connector = models.CharField(_("connector"), max_length=16, choices=ConnectorKind.choices)
    ldap_url = models.CharField(_("LDAP URL"), max_length=300, blank=True)
    ldap_base_dn = models.CharField(_("base DN"), max_length=300, blank=True)
    ldap_bind_dn = models.CharField(_("bind DN"), max_length=300, blank=True)
    # The bind password is encrypted like every other secret (core.crypto).
    ldap_bind_password_key_id = models.CharField(max_length=32, blank=True, editable=False)
    ldap_bind_password_ciphertext = models.BinaryField(null=True, blank=True, editable=False)
    ldap_timeout_seconds = models.PositiveSmallIntegerField(_("timeout (seconds)"), default=5)
    password_length = models.PositiveSmallIntegerField(_("password length"), default=20)
    min_upper = models.PositiveSmallIntegerField(_("minimum upper-case letters"), default=1)
    min_lower = models.PositiveSmallIntegerField(_("minimum lower-case letters"), default=1)
    min_digits = models.PositiveSmallIntegerField(_("minimum digits"), default=1)
    min_symbols = models.PositiveSmallIntegerField(_("minimum symbols"), default=1)
    symbols = models.CharField(_("symbols allowed"), max_length=64, default="!#%+-=?@^_")
    excluded_characters = models.CharField(
        _("characters excluded"), max_length=64, blank=True, default="Il1O0"
    )
    login_id_prefix = models.CharField(_("login ID prefix"), max_length=16, default="nw")
    login_id_random_length = models.PositiveSmallIntegerField(
        _("random characters in a login ID"), default=8
    )
    max_secret_age_days = models.PositiveSmallIntegerField(
        _("maximum secret age (days)"), default=30
    )
    # For `manual` targets: who may see a pending password and set it on the target by hand.
    administrators = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("administrators"), blank=True, related_name="+"
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("target system")
        verbose_name_plural = _("target systems")
        constraints = [
            models.CheckConstraint(
                condition=Q(connector__in=ConnectorKind.values), name="target_connector_valid"
            ),
            models.CheckConstraint(
                condition=Q(code=Lower(Trim("code"))), name="target_code_normalised"
            ),
            models.CheckConstraint(
                condition=Q(password_length__gte=8) & Q(password_length__lte=128),
                name="target_password_length_range",
            ),
            models.CheckConstraint(
                condition=Q(
                    password_length__gte=models.F("min_upper")
                    + models.F("min_lower")
                    + models.F("min_digits")
                    + models.F("min_symbols")
                ),
                name="target_password_length_fits_minimums",
            ),
            models.CheckConstraint(
                condition=Q(login_id_random_length__gte=4), name="target_login_id_random_enough"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def login_id_pattern(self) -> str:
        """The shape of its login IDs, for people: the prefix, then one x per random character."""
        return self.login_id_prefix + "x" * self.login_id_random_length


class Account(models.Model):
    """One login ID on one target system, bound to one terminal; its password is the secret."""

    State = AccountState
    # The one place that says which state may follow which.
    ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
        AccountState.LOCKED: frozenset(
            {AccountState.UNLOCKED, AccountState.ROTATION_PENDING, AccountState.DELETED}
        ),
        AccountState.UNLOCKED: frozenset({AccountState.LOCKED, AccountState.ROTATION_PENDING}),
        AccountState.ROTATION_PENDING: frozenset(
            {AccountState.LOCKED, AccountState.ROTATION_FAILED}
        ),
        AccountState.ROTATION_FAILED: frozenset(
            {AccountState.ROTATION_PENDING, AccountState.DELETED}
        ),
        AccountState.DELETED: frozenset(),
    }

    target_system = models.ForeignKey(
        TargetSystem,
        verbose_name=_("target system"),
        on_delete=models.PROTECT,
        related_name="accounts",
    )
    terminal = models.ForeignKey(
        Terminal, verbose_name=_("terminal"), on_delete=models.PROTECT, related_name="accounts"
    )
    login_id = models.CharField(_("login ID"), max_length=64)
    state = models.CharField(
        _("state"),
        max_length=20,
        choices=AccountState.choices,
        default=AccountState.ROTATION_PENDING,
    )
    current_version = models.ForeignKey(
        "SecretVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    rotated_at = models.DateTimeField(_("last rotation"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["target_system__code", "login_id"]
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        indexes = [
            # The check that a new login ID is unused on its target, deleted accounts included
            # (the unique constraint below leaves them out): one index look-up.
            models.Index(fields=["target_system", "login_id"], name="account_target_login_id"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=AccountState.values), name="account_state_valid"
            ),
            models.UniqueConstraint(
                fields=["target_system", "login_id"],
                condition=~Q(state=AccountState.DELETED),
                name="account_login_id_unique_per_target",
            ),
            models.UniqueConstraint(
                fields=["target_system", "terminal"],
                condition=~Q(state=AccountState.DELETED),
                name="account_one_per_terminal_and_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.login_id}@{self.target_system.code}"


class LoginIdRecord(models.Model):
    """Every login ID an account ever had, with when it was valid (for access-log analysis)."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="login_id_records")
    login_id = models.CharField(_("login ID"), max_length=64, db_index=True)
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)

    class Meta:
        ordering = ["-valid_from"]
        verbose_name = _("login ID record")
        verbose_name_plural = _("login ID records")

    def __str__(self) -> str:
        return self.login_id


class SecretVersion(models.Model):
    """One password of an account, encrypted; pending until the target accepted it."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="secret_versions")
    version = models.PositiveIntegerField()
    login_id = models.CharField(_("login ID"), max_length=64)
    key_id = models.CharField(max_length=32, editable=False)
    ciphertext = models.BinaryField(editable=False)
    status = models.CharField(
        _("status"), max_length=16, choices=SecretStatus.choices, default=SecretStatus.PENDING
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    became_current_at = models.DateTimeField(null=True, blank=True)
    revealed_at = models.DateTimeField(_("revealed at"), null=True, blank=True)
    revealed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # A security officer may allow one more reveal of a revealed secret.
    extra_reveal_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["account", "-version"]
        verbose_name = _("secret version")
        verbose_name_plural = _("secret versions")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=SecretStatus.values), name="secret_status_valid"
            ),
            models.UniqueConstraint(fields=["account", "version"], name="secret_version_unique"),
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(status=SecretStatus.CURRENT),
                name="secret_one_current_per_account",
            ),
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(status=SecretStatus.PENDING),
                name="secret_one_pending_per_account",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} v{self.version} ({self.status})"

    @property
    def aad_context(self) -> str:
        return secret_context(account_id=self.account_id, version=self.version)


def secret_context(*, account_id: int, version: int) -> str:
    """What a secret version's ciphertext is bound to, from its columns alone (for code that
    reads many rows without making models of them)."""
    return f"account={account_id}|version={version}"


OPEN_ROTATION_STATUSES = (
    RotationStatus.REQUESTED,
    RotationStatus.AWAITING_ADMIN,
    RotationStatus.AWAITING_VERIFICATION,
)


class Rotation(models.Model):
    """A requested rotation: the database's record of what must be rotated, written in the
    same transaction as its cause, so that a lost broker message never loses a rotation."""

    Status = RotationStatus
    Reason = RotationReason

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="rotations")
    reason = models.CharField(_("reason"), max_length=16, choices=RotationReason.choices)
    status = models.CharField(
        _("status"), max_length=24, choices=RotationStatus.choices, default=RotationStatus.REQUESTED
    )
    pending_version = models.ForeignKey(
        SecretVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True, db_index=True)
    dispatched_at = models.DateTimeField(_("last sent to a worker"), null=True, blank=True)
    # Taken up by a worker ahead of its own message (credentials.rotation, "coalesce"): until
    # then, that message finds it in hand and leaves it alone.
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    set_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-requested_at"]
        verbose_name = _("rotation")
        verbose_name_plural = _("rotations")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=RotationStatus.values), name="rotation_status_valid"
            ),
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(status__in=OPEN_ROTATION_STATUSES),
                name="rotation_one_open_per_account",
            ),
        ]

    def __str__(self) -> str:
        return f"rotation {self.pk} of account {self.account_id} ({self.status})"
