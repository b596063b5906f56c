"""Stock-takes, scans, expectations and discrepancies now belong to compliance/ (its 0001 takes
them over with their tables and rows); terminals forgets them without touching the database."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('terminals', '0002_stocktakes_and_discrepancies'),
        ('compliance', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='DiscrepancyEvidence'),
                migrations.DeleteModel(name='Scan'),
                migrations.DeleteModel(name='StockTakeExpectation'),
                migrations.DeleteModel(name='Discrepancy'),
                migrations.DeleteModel(name='StockTake'),
            ],
            database_operations=[],
        ),
    ]
