"""The real slapd of the credentials tests, for the whole run."""

from tests.credentials.conftest import slapd  # noqa: F401 (fixture)
