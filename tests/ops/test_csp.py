"""The Content Security Policy: scripts and styles only from our own files, on every page, and
no template holds an inline script, style or event handler that the policy would block."""

import re
from pathlib import Path

import pytest
from django.conf import settings

TEMPLATES = Path(settings.BASE_DIR) / "templates"
INLINE = [
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),  # a script with no src
    re.compile(r"<style\b", re.IGNORECASE),
    re.compile(r"""\sstyle\s*=\s*["']""", re.IGNORECASE),
    re.compile(r"""\son[a-z]+\s*=\s*["']""", re.IGNORECASE),  # onclick=, onload=, ...
    re.compile(r"javascript:", re.IGNORECASE),
]


def policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";") if part.strip())


@pytest.mark.parametrize("path", ["/login/", "/health/"])
def test_every_answer_carries_the_strict_policy(client, db, path):
    csp = policy(client.get(path))

    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'"
    assert csp["style-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in str(csp) and "unsafe-eval" not in str(csp)


def test_a_signed_in_page_carries_it_too(as_user, facilities):
    response = as_user(facilities).get("/terminals/")

    assert response.status_code == 200
    assert policy(response)["script-src"] == "'self'"


def test_no_template_has_inline_script_or_style():
    found = [
        f"{path.relative_to(TEMPLATES)}: {match.group(0)!r}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for pattern in INLINE
        for match in pattern.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == []
