"""The one transition check: every stateful model declares `ALLOWED_TRANSITIONS` (current state
to the states it may become) next to its status choices, and every service asks here."""

from collections.abc import Mapping
from typing import Protocol, cast

from django.db import models
from django.utils.translation import gettext as _

from core.errors import TransitionNotAllowed


class _DeclaresTransitions(Protocol):
    ALLOWED_TRANSITIONS: Mapping[str, frozenset[str]]


def check_transition(obj: models.Model, to_status: str, *, field: str = "status") -> None:
    """Refuse, with both states in words, a change that the model does not declare."""
    model = type(obj)
    current = getattr(obj, field)
    if to_status in cast(_DeclaresTransitions, model).ALLOWED_TRANSITIONS[current]:
        return
    status_field = model._meta.get_field(field)
    assert isinstance(status_field, models.Field), f"{field} is a relation, not a status field"
    labels = dict(status_field.flatchoices)
    raise TransitionNotAllowed(
        _("This %(model)s is %(old)s and cannot become %(new)s.")
        % {
            "model": model._meta.verbose_name,
            "old": labels.get(current, current),
            "new": labels.get(to_status, to_status),
        }
    )
