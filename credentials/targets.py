"""Target systems: creating one, what its login IDs and passwords look like, and the connector
that reaches it."""

from django.db import transaction
from django.utils.translation import gettext as _

from core.audit import record_event
from core.errors import InvalidInput, RuleViolation, created_unless_taken
from core.identifiers import normalise_code
from core.models import User
from credentials.connectors import Connector, LdapSettings
from credentials.connectors.ldap import LdapConnector, ldap_url_problem
from credentials.connectors.local import LocalConnector
from credentials.generation import PasswordPolicy, PolicyError, generate_login_id
from credentials.models import Account, ConnectorKind, TargetSystem
from credentials.secrets import bind_password_encrypt, bind_password_plaintext

# What a target system says of its login IDs and passwords (the API shows and takes the same).
POLICY_FIELDS = (
    "password_length",
    "min_upper",
    "min_lower",
    "min_digits",
    "min_symbols",
    "symbols",
    "excluded_characters",
    "login_id_prefix",
    "login_id_random_length",
    "max_secret_age_days",
)


def policy_of(target: TargetSystem) -> PasswordPolicy:
    return PasswordPolicy(
        length=target.password_length,
        min_upper=target.min_upper,
        min_lower=target.min_lower,
        min_digits=target.min_digits,
        min_symbols=target.min_symbols,
        symbols=target.symbols,
        excluded=target.excluded_characters,
    )


def unused_login_id(target: TargetSystem) -> str:
    """A new login ID of the target's pattern that no account on the target has now."""
    (login_id,) = unused_login_ids(target, 1)
    return login_id


def unused_login_ids(target: TargetSystem, count: int) -> list[str]:
    """`count` different new login IDs of the target's pattern that no account on the target
    has now, checked together in one look-up of the (target system, login ID) index."""
    chosen: list[str] = []
    for _attempt in range(20):
        candidates = {
            generate_login_id(target.login_id_prefix, target.login_id_random_length)
            for _ in range(count - len(chosen))
        }.difference(chosen)
        taken = set(
            Account.objects.filter(target_system=target, login_id__in=candidates)
            .order_by()
            .values_list("login_id", flat=True)
        )
        chosen += sorted(candidates - taken)
        if len(chosen) == count:
            return chosen
    raise RuleViolation(_("No unused login ID could be generated; lengthen the random part."))


# A directory that does not answer within this long is down for this try (connect and each answer).
LDAP_MAX_TIMEOUT_SECONDS = 120


def ldap_url_errors(url: str) -> list[str]:
    """Why a directory address cannot be right (empty when it can): a mistyped one would leave
    every rotation of the target failing. Whether the directory answers is not asked here."""
    problem = ldap_url_problem(url)
    if not problem:
        return []
    example = {"example": "ldaps://dir.example.jp:636"}
    if problem == "scheme":
        message = _("The directory address must start with ldap:// or ldaps://, e.g. %(example)s.")
        return [message % example]
    if problem == "host":
        message = _(
            "The directory address needs a valid host name or IP address, e.g. %(example)s."
        )
        return [message % example]
    if problem == "port":
        return [_("The directory address's port must be a number from 1 to 65535.")]
    return [
        _(
            "The directory address must be only ldap:// or ldaps://, a host and an optional "
            "port, with no spaces, user name, path or query (the base DN has its own field)."
        )
    ]


@transaction.atomic
def target_system_create(
    *,
    actor: User | None,
    code: str,
    name: str,
    connector: str,
    ldap_url: str = "",
    ldap_base_dn: str = "",
    ldap_bind_dn: str = "",
    ldap_bind_password: str = "",
    ldap_timeout_seconds: int = 5,
    **policy,
) -> TargetSystem:
    unknown = set(policy) - set(POLICY_FIELDS)
    if unknown:
        raise TypeError(f"unknown target system fields: {sorted(unknown)}")
    code = normalise_code(code)
    errors: dict[str, list[str]] = {}
    if TargetSystem.objects.filter(code=code).exists():
        errors["code"] = [_("A target system with code %(code)s already exists.") % {"code": code}]
    if connector not in ConnectorKind.values:
        errors["connector"] = [_("Unknown connector: %(c)s.") % {"c": connector}]
    if connector == ConnectorKind.LDAP:
        for field, value in (
            ("ldap_url", ldap_url),
            ("ldap_base_dn", ldap_base_dn),
            ("ldap_bind_dn", ldap_bind_dn),
            ("ldap_bind_password", ldap_bind_password),
        ):
            if not value:
                errors[field] = [_("Required for an LDAP target.")]
        if ldap_url and "ldap_url" not in errors:
            url_errors = ldap_url_errors(ldap_url)
            if url_errors:
                errors["ldap_url"] = url_errors
        if not 1 <= ldap_timeout_seconds <= LDAP_MAX_TIMEOUT_SECONDS:
            errors["ldap_timeout_seconds"] = [
                _("The time-out must be from 1 to %(max)s seconds.")
                % {"max": LDAP_MAX_TIMEOUT_SECONDS}
            ]
    target = TargetSystem(
        code=code,
        name=name,
        connector=connector,
        ldap_url=ldap_url,
        ldap_base_dn=ldap_base_dn,
        ldap_bind_dn=ldap_bind_dn,
        ldap_timeout_seconds=ldap_timeout_seconds,
        **policy,
    )
    try:
        policy_of(target).check()
    except PolicyError as exc:
        errors["password_length"] = [
            _("The password policy cannot be met: %(why)s.") % {"why": exc}
        ]
    if errors:
        raise InvalidInput(_("The target system was not saved."), field_errors=errors)
    created_unless_taken(
        target.save,
        _("The target system was not saved."),
        {"code": [_("A target system with code %(code)s already exists.") % {"code": code}]},
    )
    if ldap_bind_password:
        bind_password_encrypt(target, ldap_bind_password)
        target.save(update_fields=["ldap_bind_password_key_id", "ldap_bind_password_ciphertext"])
    record_event(
        actor=actor,
        action="target_system.created",
        obj=target,
        details={"code": code, "connector": connector, **{k: policy[k] for k in sorted(policy)}},
    )
    return target


def connector_for(target: TargetSystem) -> Connector:
    if target.connector == ConnectorKind.LDAP:
        return LdapConnector(
            LdapSettings(
                url=target.ldap_url,
                base_dn=target.ldap_base_dn,
                bind_dn=target.ldap_bind_dn,
                bind_password=bind_password_plaintext(target),
                timeout=target.ldap_timeout_seconds,
            )
        )
    return LocalConnector(target)
