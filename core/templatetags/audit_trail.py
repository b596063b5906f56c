"""Audit events in words on the pages: `{% load audit_trail %}`, then `event|action_label` and
`event|event_details` (see core.audit for who registers the words)."""

from django import template

from core import audit
from core.models import AuditEvent

register = template.Library()


@register.filter
def action_label(event: AuditEvent) -> str:
    return audit.action_label(event.action)


@register.filter
def event_details(event: AuditEvent) -> list[tuple[str, str]]:
    return audit.describe_details(event.action, event.details or {})


@register.filter
def object_label(event: AuditEvent) -> str:
    """`Access card 12` for `terminals.accesscard` 12; a type no model claims, as stored."""
    return audit.object_label(event.object_type, event.object_id)
