"""Declarations lifted before the lift's grace was stored get it from their lift's audit event."""

import importlib

from django.apps import apps

from core.audit import record_event
from lending import services
from lending.models import Declaration

migration = importlib.import_module("lending.migrations.0005_declaration_grace_hours")


def test_a_declaration_lifted_earlier_gets_the_grace_its_lift_event_recorded(site, security):
    lifted = services.declaration_declare(actor=security, title="台風10号", sites=[site])
    services.declaration_lift(declaration=lifted, actor=security, grace_hours=6)
    Declaration.objects.filter(pk=lifted.pk).update(grace_hours=None)  # as before the field
    # Another declaration's event with another grace is not taken for it.
    other = services.declaration_declare(actor=security, title="地震", sites=[site])
    record_event(
        actor=security, action="declaration.lifted", obj=other, details={"grace_hours": 48}
    )
    never = services.declaration_declare(actor=security, title="大雪", sites=[site])

    migration.grace_from_the_lift_events(apps, None)

    grace = dict(Declaration.objects.values_list("pk", "grace_hours"))
    assert (grace[lifted.pk], grace[never.pk]) == (6, None)
