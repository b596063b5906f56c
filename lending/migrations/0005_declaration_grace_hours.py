from django.db import migrations, models


def grace_from_the_lift_events(apps, schema_editor) -> None:
    """Declarations lifted before the field: the grace their lift's audit event recorded."""
    Declaration = apps.get_model("lending", "Declaration")
    AuditEvent = apps.get_model("core", "AuditEvent")
    lifted = Declaration.objects.filter(lifted_at__isnull=False, grace_hours__isnull=True)
    for declaration in lifted.only("pk"):
        event = (
            AuditEvent.objects.filter(
                action="declaration.lifted",
                object_type="lending.declaration",
                object_id=str(declaration.pk),
            )
            .order_by("-pk")
            .first()
        )
        hours = event.details.get("grace_hours") if event is not None else None
        if isinstance(hours, int) and hours >= 0:
            Declaration.objects.filter(pk=declaration.pk).update(grace_hours=hours)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("lending", "0004_supervision_and_arrangements"),
    ]

    operations = [
        migrations.AddField(
            model_name="declaration",
            name="grace_hours",
            field=models.PositiveIntegerField(
                blank=True, null=True, verbose_name="grace after the lift (hours)"
            ),
        ),
        migrations.RunPython(grace_from_the_lift_events, migrations.RunPython.noop),
    ]
