import hashlib
import json
import logging
import time
from base64 import b32encode
from urllib.parse import quote, urlencode

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import F
from django.db.models.functions import Lower, Trim
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device, ThrottlingMixin, TimestampMixin
from django_otp.oath import TOTP

from core.crypto import DecryptionError, keyring
from core.fields import CodeField, UsernameField

logger = logging.getLogger(__name__)


class OrganizationKind(models.TextChoices):
    NETWORK_OPERATOR = "network_operator", _("Network operator")
    RETAIL = "retail", _("Retail company")
    CONTRACTOR = "contractor", _("Contractor")


class Organization(models.Model):
    """A company: the network operator, a retail company, or a contractor."""

    Kind = OrganizationKind

    code = CodeField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)

    class Meta:
        ordering = ["code"]
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=OrganizationKind.values), name="organization_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(code=Lower(Trim("code"))), name="organization_code_normalised"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


# django-otp is untyped: the stubs cannot follow its user field to the authenticators.
class User(AbstractUser):  # type: ignore[django-manager-missing]
    # Django's own field in one form (core.fields): Yamada and yamada are one person.
    username = UsernameField(
        _("username"),
        max_length=150,
        unique=True,
        help_text=_("Required. 150 characters or fewer. Letters, digits and @/./+/-/_ only."),
        validators=[AbstractUser.username_validator],
        error_messages={"unique": _("A user with that username already exists.")},
    )
    organization = models.ForeignKey(
        Organization,
        verbose_name=_("organization"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="users",
    )

    class Meta(AbstractUser.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(username=Lower(Trim("username"))),
                name="user_username_normalised",
            )
        ]

    @property
    def role(self) -> str | None:
        from core.roles import user_role

        return user_role(self)


class ApiToken(models.Model):
    """An API token: only a prefix and a SHA-256 digest are stored; the token is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    prefix = models.CharField(max_length=8, db_index=True)
    digest = models.CharField(max_length=64, unique=True)
    # What the owner calls it ("scanner at the north depot"), to tell tokens apart when revoking.
    name = models.CharField(_("name"), max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @staticmethod
    def digest_of(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("audit events are append-only")

    def delete(self):
        raise PermissionError("audit events are append-only")


class AppendOnlyModel(models.Model):
    """A row of the audit trail: written once, never changed or deleted through the ORM."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError(f"{type(self).__name__} rows are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError(f"{type(self).__name__} rows are append-only")


class AuditEventManager(models.Manager.from_queryset(AppendOnlyQuerySet)):  # type: ignore[misc]
    """Every event read with its place in the chain (`seq`, `prev_hash`, `hash` from its
    AuditSeal; None until sealed), so that readers filter, order and show them as columns."""

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .annotate(seq=F("seal__seq"), prev_hash=F("seal__prev_hash"), hash=F("seal__hash"))
        )


# The canonical JSON of an event: json.dumps(payload, sort_keys=True, ensure_ascii=False,
# separators=(",", ":")) of its eight fields. Built by hand below (the same bytes, keys in sorted
# order): verifying a long chain spends most of its time here.
_encode_str = json.encoder.encode_basestring  # what dumps uses with ensure_ascii=False
_dump_details = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode


def event_hash(
    *,
    seq: int,
    occurred_at,
    actor_username: str,
    action: str,
    object_type: str,
    object_id: str,
    details,
    prev_hash: str,
) -> str:
    """The SHA-256 of an event's canonical JSON: the format every sealed row was hashed with.
    `occurred_at` is a datetime, or its isoformat(timespec="microseconds") already."""
    moment = (
        occurred_at
        if isinstance(occurred_at, str)
        else occurred_at.isoformat(timespec="microseconds")
    )
    canonical = (
        f'{{"action":{_encode_str(action)},"actor":{_encode_str(actor_username)},'
        f'"details":{_dump_details(details)},"object_id":{_encode_str(object_id)},'
        f'"object_type":{_encode_str(object_type)},'
        f'"occurred_at":{_encode_str(moment)},'
        f'"prev_hash":{_encode_str(prev_hash)},"seq":{int(seq)}}}'
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def event_hash_reference(**fields) -> str:
    """The definition event_hash follows, kept to check it against (tests)."""
    payload = {
        "seq": fields["seq"],
        "occurred_at": fields["occurred_at"].isoformat(timespec="microseconds"),
        "actor": fields["actor_username"],
        "action": fields["action"],
        "object_type": fields["object_type"],
        "object_id": fields["object_id"],
        "details": fields["details"],
        "prev_hash": fields["prev_hash"],
    }
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class AuditEvent(AppendOnlyModel):
    """One append-only event per state change. Written in the caller's transaction with one
    INSERT and nothing else; the sealer (core.sealer) gives it its place in the chain once
    committed, as a row of its own (AuditSeal), so that sealing never rewrites the event."""

    occurred_at = models.DateTimeField(_("time"), db_index=True, editable=False)
    actor = models.ForeignKey(
        User,
        verbose_name=_("actor"),
        on_delete=models.PROTECT,  # users are deactivated, never deleted: the trail keeps them
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        # No foreign key in the database: its check locks the actor's user row (FOR KEY SHARE)
        # in every writer's transaction, and with many writers acting as one user those locks
        # pile up on one row (bench/audit.py on PostgreSQL, one run each: 4,356 events/s with
        # it, 5,153 without).
        # PROTECT above still refuses deleting a user the trail names, and the hash covers
        # actor_username, not this id.
        db_constraint=False,
    )
    actor_username = models.CharField(_("actor"), max_length=150, blank=True, editable=False)
    action = models.CharField(_("action"), max_length=64, editable=False)
    object_type = models.CharField(_("object type"), max_length=64, editable=False)
    object_id = models.CharField(_("object id"), max_length=64, editable=False)
    details = models.JSONField(_("details"), default=dict, editable=False)

    # The event's place in the chain, read from its seal by the default manager; None until
    # sealed (and on an instance not read through the manager).
    seq: int | None = None
    prev_hash: str | None = None
    hash: str | None = None

    objects = AuditEventManager()

    class Meta:
        ordering = ["id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [
            models.Index(fields=["object_type", "object_id"]),
            # One index, for = and for "starts with" (the action_prefix filter): db_index=True
            # makes two on PostgreSQL, and every index is one more write for each event.
            models.Index(
                fields=["action"], name="core_auditevent_action", opclasses=["varchar_pattern_ops"]
            ),
        ]

    def __str__(self) -> str:
        # `seq` is only known when read through the manager (not through a seal's `event`).
        number = f"#{self.seq} " if self.seq else ""
        return f"{number}{self.action} {self.object_type}:{self.object_id}"

    def compute_hash(self) -> str:
        assert self.seq is not None and self.prev_hash is not None, "the event is not sealed"
        return event_hash(
            seq=self.seq,
            occurred_at=self.occurred_at,
            actor_username=self.actor_username,
            action=self.action,
            object_type=self.object_type,
            object_id=self.object_id,
            details=self.details,
            prev_hash=self.prev_hash,
        )


class AuditSeal(AppendOnlyModel):
    """An event's place in the chain: its sequence number, the previous event's hash and its
    own. Written by the sealer alone, once, as a row of its own: a seal is a narrow INSERT, where
    an UPDATE of the event would write the whole event again with every index of its table
    (bench/audit.py on PostgreSQL: sealing went from about 22,000 to about 50,000 events/s)."""

    event = models.OneToOneField(
        AuditEvent,
        primary_key=True,
        on_delete=models.PROTECT,
        verbose_name=_("audit event"),
        related_name="seal",
        editable=False,
        # No foreign key in the database: its check would lock every sealed event's row
        # (FOR KEY SHARE), which writes to the event's page, the very write this table avoids.
        # The sealer only seals events it has just read.
        db_constraint=False,
    )
    seq = models.PositiveBigIntegerField(_("sequence"), unique=True, editable=False)
    prev_hash = models.CharField(_("previous hash"), max_length=64, editable=False)
    # Not indexed: nothing looks an event up by its hash (the chain is walked by seq).
    hash = models.CharField(_("hash"), max_length=64, editable=False)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]
        verbose_name = _("audit seal")
        verbose_name_plural = _("audit seals")

    def __str__(self) -> str:
        return f"#{self.seq} {self.hash[:12]}"


class AuditSealGap(models.Model):
    """Event ids the sealer went past without seeing them (PostgreSQL): rolled back, or still in
    a transaction that may commit later. `transactions` are the sessions that were open then
    ([pid, start]); once none of them is open, what committed is visible: the sealer seals it
    (after higher ids) and deletes the gap. Rare: it waits for such transactions first."""

    first_id = models.BigIntegerField(_("first event id"))
    last_id = models.BigIntegerField(_("last event id"))
    transactions = models.JSONField(_("sessions open then"), default=list)

    class Meta:
        verbose_name = _("audit seal gap")
        verbose_name_plural = _("audit seal gaps")

    def __str__(self) -> str:
        return f"{self.first_id}-{self.last_id}"


class AuditCheckpoint(models.Model):
    """A signed head of the chain: `seq` and its event's hash, signed with the Ed25519 key of
    AUDIT_SIGNING_KEY (never stored in the database) and sent to the witnesses outside it.
    `witness_pending` lists the witnesses it has not reached yet (the sweeper retries them)."""

    seq = models.PositiveBigIntegerField(_("sequence"), unique=True, editable=False)
    head_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(_("time"), editable=False)
    key_id = models.CharField(max_length=32, editable=False)
    signature = models.CharField(max_length=128, editable=False)
    witness_pending = models.CharField(max_length=64, blank=True, editable=False)
    witnessed_at = models.DateTimeField(null=True, blank=True, editable=False)
    witness_error = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["seq"]
        verbose_name = _("audit checkpoint")
        verbose_name_plural = _("audit checkpoints")

    def __str__(self) -> str:
        return f"checkpoint #{self.seq} {self.head_hash[:12]}"


class AuditChainCheck(models.Model):
    """One run of verify_chain over the whole trail, kept so that a page shows its outcome
    instead of walking a trail that grows with every disaster (beat checks it every
    AUDIT_CHECK_SECONDS, `verify_audit_chain` too)."""

    checked_at = models.DateTimeField(_("checked at"), editable=False)
    verified = models.PositiveBigIntegerField(_("events verified"), editable=False)
    broken_seq = models.PositiveBigIntegerField(_("broken at"), null=True, editable=False)
    broken_reason = models.CharField(_("reason"), max_length=100, blank=True, editable=False)

    class Meta:
        verbose_name = _("audit chain check")
        verbose_name_plural = _("audit chain checks")

    def __str__(self) -> str:
        return f"check {self.checked_at:%Y-%m-%d %H:%M} {self.verified}"

    @property
    def broken(self) -> bool:
        return self.broken_seq is not None


def authenticator_key_context(user_id: int) -> str:
    """What an authenticator's key is bound to: its user (core.crypto's associated data)."""
    return f"authenticator|user={user_id}"


class Authenticator(TimestampMixin, ThrottlingMixin, Device):
    """A person's TOTP authenticator app (a django-otp device, core.otp). Its key is stored
    encrypted under CREDENTIAL_KEYS and bound to its user, like every other secret: a copy of the
    database gives nobody's second factor away (django-otp's own TOTPDevice keeps it in clear).
    """

    # django-otp's own fields, named in the reader's language on the admin's pages.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, verbose_name=_("person")
    )
    name = models.CharField(_("name"), max_length=64)
    confirmed = models.BooleanField(_("confirmed"), default=True)
    created_at = models.DateTimeField(_("enrolled at"), null=True, blank=True, auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    key_id = models.CharField(_("encryption key"), max_length=32, editable=False)
    key_ciphertext = models.BinaryField(editable=False)
    step = models.PositiveSmallIntegerField(default=30, editable=False)
    t0 = models.BigIntegerField(default=0, editable=False)
    digits = models.PositiveSmallIntegerField(default=6, editable=False)
    tolerance = models.PositiveSmallIntegerField(default=1, editable=False)
    drift = models.SmallIntegerField(default=0, editable=False)
    # The time step of the last code accepted: each code is accepted once.
    last_t = models.BigIntegerField(default=-1, editable=False)

    class Meta(Device.Meta):
        verbose_name = _("authenticator")
        verbose_name_plural = _("authenticators")

    def key_set(self, key: bytes) -> None:
        """Encrypt the key under the newest key (not saved)."""
        self.key_id, self.key_ciphertext = keyring().encrypt(
            key.hex(), context=authenticator_key_context(self.user_id)
        )

    @property
    def bin_key(self) -> bytes:
        return bytes.fromhex(
            keyring().decrypt(
                self.key_id,
                bytes(self.key_ciphertext),
                context=authenticator_key_context(self.user_id),
            )
        )

    def verify_token(self, token) -> bool:
        """django-otp's TOTP check (the code of the step now, or one either side; a step used
        once is not accepted again), on the decrypted key."""
        allowed, _data = self.verify_is_allowed()
        if not allowed:
            return False
        try:
            code = int(token)
        except (TypeError, ValueError):
            code = None
        try:
            key = self.bin_key
        except DecryptionError:
            # A key dropped from CREDENTIAL_KEYS too early, or a tampered row: no code can be
            # accepted; an administrator resets the authenticator (the person enrols again).
            logger.error("the authenticator of user %s cannot be decrypted", self.user_id)
            code = None
        verified = False
        if code is not None:
            totp = TOTP(key, self.step, self.t0, self.digits, self.drift)
            totp.time = time.time()
            verified = totp.verify(code, self.tolerance, self.last_t + 1)
            if verified:
                self.last_t = totp.t()
                self.drift = totp.drift
                self.throttle_reset(commit=False)
                self.set_last_used_timestamp(commit=False)
                self.save()
        if not verified:
            self.throttle_increment(commit=True)
        return verified

    def get_throttle_factor(self) -> int:
        return getattr(settings, "OTP_TOTP_THROTTLE_FACTOR", 1)

    @property
    def config_url(self) -> str:
        """The otpauth:// URL an authenticator app reads from the enrolment QR code."""
        label = self.user.get_username()
        params = urlencode(
            {
                "secret": b32encode(self.bin_key),
                "algorithm": "SHA1",
                "digits": self.digits,
                "period": self.step,
            }
        )
        issuer = settings.OTP_TOTP_ISSUER.replace(":", "")
        if issuer:
            label = f"{issuer}:{label}"
            params += f"&issuer={quote(issuer)}"
        return f"otpauth://totp/{quote(label)}?{params}"


class Lease(models.Model):
    """Who may run a job that must run once at a time (the audit sealer, the scheduler): one row
    per job, taken with an UPDATE that succeeds only once it expired (or by its holder, to renew
    it). A holder that dies leaves it to expire (core.leases)."""

    name = models.CharField(max_length=32, primary_key=True)
    holder = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = _("lease")
        verbose_name_plural = _("leases")

    def __str__(self) -> str:
        return f"{self.name}: {self.holder} until {self.expires_at:%Y-%m-%d %H:%M:%S}"


class OutboxTask(models.Model):
    """A task to send to the workers once its transaction commits (an email about a request):
    written in that transaction, deleted once the broker took it. A row left over (broker down,
    process killed after the commit) is sent again by the sweeper, so the work is done at least
    once and a request that committed never fails for it (core.queue)."""

    task_name = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("outbox task")
        verbose_name_plural = _("outbox tasks")

    def __str__(self) -> str:
        return f"{self.task_name}{tuple(self.args)}"


class WorkerHeartbeat(models.Model):
    """When each Celery worker last ran its heartbeat task (beat sends it): /health/ and
    /metrics read the newest, so a deployment whose workers all stopped is seen."""

    worker = models.CharField(max_length=200, primary_key=True)
    seen_at = models.DateTimeField()

    class Meta:
        verbose_name = _("worker heartbeat")
        verbose_name_plural = _("worker heartbeats")

    def __str__(self) -> str:
        return f"{self.worker} at {self.seen_at:%Y-%m-%d %H:%M:%S}"
