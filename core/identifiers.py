"""Identifiers people type or scan (asset tags, card numbers) in one form: trimmed, Unicode NFKC
(a Japanese IME's full-width ＮＷ－０００１ is NW-0001) and upper case. Every edge that takes one
(forms, API, CSV, scanners, URLs) passes it through `normalise_identifier` before it is stored or
looked up, and the database refuses a stored value that is not upper-case and trimmed."""

import unicodedata


def normalise_identifier(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().upper()
