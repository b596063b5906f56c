"""Two people registering the same card, location, organization, target system or account at
once: the second one's insert collides after its check passed. It is refused on the field, as
the check would have refused it, never a 500, and the caller's transaction stays usable."""

import pytest
from django.db.models import QuerySet

from core.errors import InvalidInput
from core.models import Organization
from core.services import organization_create
from credentials.accounts import account_create
from credentials.targets import target_system_create
from terminals import services as inventory
from tests.factories import make_terminal

# What each registration looks like, and the field its refusal names.
REGISTRATIONS = {
    "access card": (
        "card_number",
        lambda world: inventory.access_card_create(
            actor=None, card_number="IC-1", kind="entry", location=world["cabinet"]
        ),
    ),
    "location": (
        "code",
        lambda world: inventory.location_create(
            actor=None,
            code="hq-cab-9",
            name="保管庫9",
            kind="cabinet",
            custodian=world["cabinet"].custodian,
            parent=world["cabinet"].parent,
        ),
    ),
    "organization": (
        "code",
        lambda world: organization_create(
            actor=None, code="kanden-koji", name="関電工事", kind=Organization.Kind.CONTRACTOR
        ),
    ),
    "target system": (
        "code",
        lambda world: target_system_create(actor=None, code="cc", name="CC", connector="local"),
    ),
    "account": (
        "target_system",
        lambda world: account_create(
            actor=None, target_system=world["target"], terminal=world["terminal"]
        ),
    ),
}


@pytest.fixture
def world(cabinet, django_capture_on_commit_callbacks):
    target = target_system_create(actor=None, code="dir", name="Directory", connector="local")
    return {"cabinet": cabinet, "target": target, "terminal": make_terminal(location=cabinet)}


@pytest.mark.parametrize("what", REGISTRATIONS)
def test_the_second_of_two_registrations_at_once_is_refused_on_its_field(
    what, world, monkeypatch, django_capture_on_commit_callbacks
):
    field, register = REGISTRATIONS[what]
    with django_capture_on_commit_callbacks(execute=True):
        register(world)  # the first person's, committed while the second one checked

    with monkeypatch.context() as racing:
        racing.setattr(QuerySet, "exists", lambda self: False)  # the second one's check passed
        with pytest.raises(InvalidInput) as refused:
            register(world)

    assert "already" in refused.value.field_errors[field][0]
    assert Organization.objects.count() >= 1  # the transaction is still usable
