"""A terminal's hostname: the one rule, used by the model, the page forms, the API serializers
and the services (so the CSV import and the admin follow it too).

RFC 1123 host names: one label or labels joined by dots; each label 1-63 letters, digits or
hyphens, neither starting nor ending with a hyphen; 253 characters at most. Stored trimmed and
in lower case, so that NWPC-0001 and nwpc-0001 are the same host for the access-log checks."""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

MAX_HOSTNAME_LENGTH = 253
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)", re.IGNORECASE | re.ASCII)


def normalise_hostname(value: str) -> str:
    return value.strip().lower()


def validate_hostname(value: str) -> None:
    """Refuse a hostname that is not an RFC 1123 name; an empty one (none recorded) passes."""
    if not value:
        return
    if len(value) > MAX_HOSTNAME_LENGTH:
        raise ValidationError(
            _("A hostname has at most %(max)d characters (this one has %(length)d)."),
            code="hostname_too_long",
            params={"max": MAX_HOSTNAME_LENGTH, "length": len(value)},
        )
    if not all(_LABEL.fullmatch(label) for label in value.split(".")):
        raise ValidationError(
            _(
                "Enter a valid hostname: letters, digits and hyphens, in parts of 1 to 63 "
                "characters separated by dots, none starting or ending with a hyphen "
                "(e.g. nwpc-0001)."
            ),
            code="invalid_hostname",
        )
