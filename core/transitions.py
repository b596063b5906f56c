"""The one transition check: every stateful model declares `ALLOWED_TRANSITIONS` (current state
to the states it may become) next to its status choices, and every service asks here."""

from django.db import models
from django.utils.translation import gettext as _

from core.errors import TransitionNotAllowed


def check_transition(obj: models.Model, to_status: str, *, field: str = "status") -> None:
    """Refuse, with both states in words, a change that the model does not declare."""
    model = type(obj)
    current = getattr(obj, field)
    if to_status in model.ALLOWED_TRANSITIONS[current]:
        return
    labels = dict(model._meta.get_field(field).flatchoices)
    raise TransitionNotAllowed(
        _("This %(model)s is %(old)s and cannot become %(new)s.")
        % {
            "model": model._meta.verbose_name,
            "old": labels.get(current, current),
            "new": labels.get(to_status, to_status),
        }
    )
