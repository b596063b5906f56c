"""Emails in both languages: recipients' language is not known, so Japanese first, then English."""

from django.template.loader import render_to_string
from django.utils import translation


def bilingual(template: str, context: dict) -> tuple[str, str]:
    """(subject, body) from templates/emails/<template>_subject.txt and <template>.txt."""
    subjects, bodies = [], []
    for language in ("ja", "en"):
        with translation.override(language):
            subjects.append(render_to_string(f"emails/{template}_subject.txt", context).strip())
            bodies.append(render_to_string(f"emails/{template}.txt", context).strip())
    return " / ".join(subjects), "\n\n----------\n\n".join(bodies)
