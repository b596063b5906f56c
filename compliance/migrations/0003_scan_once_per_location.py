"""A terminal counts once per location in a stock-take (see compliance.services, Scanning).
Scans recorded before this, when two reads could race past the check, are made repeats first:
the earliest stays counted."""

from django.db import migrations, models

COUNTED = ["expected_here", "belongs_elsewhere", "recorded_as_lent"]


def repeats_to_repeated(apps, schema_editor):
    Scan = apps.get_model("compliance", "Scan")
    counted = Scan.objects.filter(undone_at__isnull=True, result__in=COUNTED)
    earlier = counted.filter(
        stocktake=models.OuterRef("stocktake"),
        terminal=models.OuterRef("terminal"),
        location=models.OuterRef("location"),
        pk__lt=models.OuterRef("pk"),
    )
    counted.filter(terminal__isnull=False).filter(models.Exists(earlier)).update(result="repeated")


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0002_tables_and_subjects"),
    ]

    operations = [
        migrations.RunPython(repeats_to_repeated, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name="scan",
            constraint=models.UniqueConstraint(
                condition=models.Q(("result__in", COUNTED), ("undone_at__isnull", True)),
                fields=("stocktake", "terminal", "location"),
                name="scan_once_per_location",
            ),
        ),
    ]
