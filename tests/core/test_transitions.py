"""Every stateful model's allowed transitions, written out here as literal data (DESIGN.md,
"Terminal states" and the lending flow), never read from the table under test: a change to a
model's ALLOWED_TRANSITIONS must be made here too, on purpose."""

import pytest

from compliance.models import StockTake
from core.errors import TransitionNotAllowed
from core.transitions import check_transition
from credentials.models import Account
from lending.models import AccessRequest, Declaration, Loan
from terminals.models import AccessCard, Terminal

EXPECTED = {
    Terminal: {
        "in_storage": {"reserved", "maintenance", "lost", "retired"},
        # Reserved and lent terminals move on through their loan: lent, handed back to storage
        # when a check-out is abandoned, returned, lost; a stock-take may find one missing.
        "reserved": {"lent", "in_storage", "maintenance", "lost", "retired"},
        "lent": {"returned", "maintenance", "lost", "retired"},
        "returned": {"in_storage", "maintenance", "lost", "retired"},
        "maintenance": {"in_storage", "lost", "retired"},
        "lost": {"maintenance", "retired"},  # found again: inspected before it is stored
        "retired": set(),
    },
    AccessCard: {
        "in_storage": {"lent", "lost", "retired"},
        "lent": {"in_storage", "lost", "retired"},
        "lost": {"in_storage", "retired"},
        "retired": set(),
    },
    Account: {
        "locked": {"unlocked", "rotation_pending", "deleted"},
        "unlocked": {"locked", "rotation_pending"},
        "rotation_pending": {"locked", "rotation_failed"},
        "rotation_failed": {"rotation_pending", "deleted"},
        "deleted": set(),
    },
    Declaration: {"active": {"lifted"}, "lifted": {"closed"}, "closed": set()},
    AccessRequest: {
        "submitted": {"approved", "rejected", "cancelled"},
        "approved": {"cancelled"},
        "rejected": set(),
        "cancelled": set(),
    },
    Loan: {
        "checking_out": {"open", "abandoned"},
        "open": {"returned", "lost"},
        "returned": set(),
        "lost": set(),
        "abandoned": set(),
    },
    StockTake: {"open": {"closed"}, "closed": {"completed"}, "completed": set()},
}

FIELD = {Account: "state"}
CASES = [
    (model, old, new)
    for model, table in EXPECTED.items()
    for old in table
    for new in table
    if old != new
]


@pytest.mark.parametrize(
    ("model", "old", "new"), CASES, ids=[f"{m.__name__}:{o}->{n}" for m, o, n in CASES]
)
def test_the_transition_check_allows_exactly_the_expected_changes(model, old, new):
    field = FIELD.get(model, "status")
    obj = model(**{field: old})
    if new in EXPECTED[model][old]:
        check_transition(obj, new, field=field)
    else:
        with pytest.raises(TransitionNotAllowed) as refused:
            check_transition(obj, new, field=field)
        labels = dict(model._meta.get_field(field).flatchoices)
        assert str(labels[old]) in refused.value.message
        assert str(labels[new]) in refused.value.message


@pytest.mark.parametrize("model", list(EXPECTED), ids=lambda m: m.__name__)
def test_every_state_of_every_model_is_in_the_expected_tables(model):
    field = FIELD.get(model, "status")
    assert set(EXPECTED[model]) == {value for value, _label in model._meta.get_field(field).choices}
