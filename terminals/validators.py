"""The rules for what names a terminal or a card: its hostname, its asset tag, a card's number.

A terminal's hostname: the one rule, used by the model, the page forms, the API serializers
and the services (so the CSV import and the admin follow it too).

RFC 1123 host names: one label or labels joined by dots; each label 1-63 letters, digits or
hyphens, neither starting nor ending with a hyphen; 253 characters at most. Stored trimmed and
in lower case, so that NWPC-0001 and nwpc-0001 are the same host for the access-log checks.

Asset tags and card numbers (normalised by core.identifiers first): any text that can be one
path segment of a page's address, checked by the services on every way in (API, pages, CSV)."""

import re
import unicodedata

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


# Asset tags and card numbers ------------------------------------------------------------------

# Printed on labels and typed by people, so almost any text; but each is also a path segment of
# its pages (/terminals/<asset tag>/): a slash would split it, a backslash is read as a slash by
# browsers, a segment of dots only is collapsed by them, and control characters (NUL among them)
# are refused by PostgreSQL or invisible on a label.
_IDENTIFIER_FORBIDDEN = re.compile(r"[/\\\x00-\x1f\x7f-\x9f]")


def identifier_errors(value: str) -> list[str]:
    """Why an asset tag or card number (already normalised) cannot be stored; empty if it can."""
    if _IDENTIFIER_FORBIDDEN.search(value) or any(
        unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"} for char in value
    ):
        return [
            str(
                _(
                    "Use letters, digits and signs such as - _ . : but no slash (/), backslash "
                    "(\\) or control character."
                )
            )
        ]
    if value.strip(".") == "":
        return [str(_("Use at least one letter or digit, not only dots."))]
    return []


def validate_identifier(value: str) -> None:
    """`identifier_errors` as a validator for forms and serializers; an empty value passes (the
    field's own `required` speaks for it)."""
    if value and (errors := identifier_errors(value)):
        raise ValidationError(errors, code="invalid_identifier")
