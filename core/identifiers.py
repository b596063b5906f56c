"""Identifiers people type or scan (asset tags, card numbers) in one form: trimmed, Unicode NFKC
(a Japanese IME's full-width ＮＷ－０００１ is NW-0001) and upper case. Every edge that takes one
(forms, API, CSV, scanners, URLs) passes it through `normalise_identifier` before it is stored or
looked up, and the database refuses a stored value that is not upper-case and trimmed."""

import unicodedata
from urllib.parse import unquote

from django.utils.translation import gettext_lazy


def normalise_identifier(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().upper()


def normalise_code(value: str) -> str:
    """The one form of a code (an organization's, a location's, a target system's) and of a
    username: trimmed, NFKC and lower case, as codes are written in URLs and files (ＨＯＮＴＥＮ is
    honten, and Yamada signs in as yamada)."""
    return unicodedata.normalize("NFKC", value).strip().lower()


# An organization's code (a contractor's, say) is part of URLs and of files exported: the same
# rule and the same words on every edge, rather than Django's message about "slugs".
ORGANIZATION_CODE_PATTERN = r"^[-a-zA-Z0-9_]+\Z"
ORGANIZATION_CODE_RULE = gettext_lazy(
    "Use only letters (a-z), digits, hyphens and underscores, for example kanden-koji."
)


class IdentifierConverter:
    """A path converter for an asset tag or card number as one path segment of a page's address.

    The services refuse a slash in a new identifier, but one stored before that rule (or
    through the admin) must still give its pages an address rather than a NoReverseMatch that
    fails a whole list: a slash (and the percent sign, so the round trip is exact) is escaped
    as %2F (%25) before Django quotes the address, and unescaped when the address is read."""

    regex = "[^/]+"

    def to_python(self, value: str) -> str:
        return unquote(value)

    def to_url(self, value: str) -> str:
        return str(value).replace("%", "%25").replace("/", "%2F")
