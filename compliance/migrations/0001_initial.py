"""The stock-take models move from terminals/ to compliance/ with their tables and rows: this
migration only tells Django's state where they now live (terminals 0003 forgets them there);
0002 renames the tables."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('terminals', '0002_stocktakes_and_discrepancies'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Discrepancy',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('missing', 'Missing'), ('found_elsewhere', 'Found at another location'), ('found_but_lent', 'Found but recorded as lent'), ('unknown_tag', 'Unknown tag'), ('scanned_twice', 'Scanned at two locations'), ('outside_secured_location', 'Not lent, outside a secured location'), ('unlocked_not_lent', 'Account unlocked while not lent'), ('orphan_account', 'Orphan account'), ('retired_terminal_account', 'Account of a retired terminal'), ('secret_too_old', 'Password older than its maximum age'), ('rotation_failed_long', 'Rotation failed for more than a day'), ('stocktake_overdue', 'Stock-take overdue'), ('card_not_returned', 'Access card not returned')], max_length=32, verbose_name='kind')),
                        ('status', models.CharField(choices=[('open', 'Open'), ('resolved', 'Resolved')], default='open', max_length=16, verbose_name='status')),
                        ('subject', models.CharField(db_index=True, max_length=200, verbose_name='subject')),
                        ('details', models.JSONField(default=dict, verbose_name='details')),
                        ('opened_at', models.DateTimeField(auto_now_add=True, verbose_name='opened at')),
                        ('outcome', models.CharField(blank=True, choices=[('found', 'Found (no change)'), ('relocated', 'Relocated to where it was found'), ('lost_or_stolen', 'Lost or stolen'), ('written_off', 'Written off'), ('orphan_deleted', 'Orphan account deleted on its target'), ('fixed', 'Fixed')], max_length=20, verbose_name='outcome')),
                        ('resolution_note', models.TextField(blank=True, verbose_name='note')),
                        ('resolved_at', models.DateTimeField(blank=True, null=True, verbose_name='resolved at')),
                        ('access_card', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='discrepancies', to='terminals.accesscard', verbose_name='access card')),
                        ('assignee', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='assignee')),
                        ('location', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='terminals.location', verbose_name='location')),
                        ('resolved_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('terminal', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='discrepancies', to='terminals.terminal', verbose_name='terminal')),
                    ],
                    options={
                        'db_table': 'terminals_discrepancy',
                        'verbose_name': 'discrepancy',
                        'verbose_name_plural': 'discrepancies',
                        'ordering': ['-opened_at', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='DiscrepancyEvidence',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('file', models.FileField(upload_to='evidence/%Y/%m/', verbose_name='file')),
                        ('uploaded_at', models.DateTimeField(auto_now_add=True)),
                        ('discrepancy', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='evidence', to='compliance.discrepancy')),
                        ('uploaded_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'terminals_discrepancyevidence',
                        'verbose_name': 'evidence',
                        'verbose_name_plural': 'evidence',
                    },
                ),
                migrations.CreateModel(
                    name='StockTake',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('status', models.CharField(choices=[('open', 'Open (scanning)'), ('closed', 'Closed (under review)'), ('completed', 'Completed')], default='open', max_length=16, verbose_name='status')),
                        ('reason', models.CharField(choices=[('scheduled', 'Scheduled'), ('manual', 'Opened by hand'), ('declaration_closed', 'Declaration closed')], max_length=24, verbose_name='reason')),
                        ('blind', models.BooleanField(default=True, help_text='Scanning staff see only what they scanned, not the expected list.', verbose_name='blind count')),
                        ('opened_at', models.DateTimeField(verbose_name='opened at')),
                        ('due_at', models.DateTimeField(verbose_name='due')),
                        ('closed_at', models.DateTimeField(blank=True, null=True, verbose_name='closed at')),
                        ('completed_at', models.DateTimeField(blank=True, null=True, verbose_name='completed at')),
                        ('reminder_sent_at', models.DateTimeField(blank=True, null=True)),
                        ('overdue_notice_at', models.DateTimeField(blank=True, null=True)),
                        ('closed_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('opened_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('site', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='stocktakes', to='terminals.location', verbose_name='site')),
                    ],
                    options={
                        'db_table': 'terminals_stocktake',
                        'verbose_name': 'stock-take',
                        'verbose_name_plural': 'stock-takes',
                        'ordering': ['-opened_at'],
                    },
                ),
                migrations.CreateModel(
                    name='Scan',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('tag', models.CharField(max_length=64, verbose_name='asset tag')),
                        ('result', models.CharField(choices=[('expected_here', 'Expected here'), ('belongs_elsewhere', 'Belongs elsewhere'), ('recorded_as_lent', 'Recorded as lent'), ('unknown', 'Unknown tag'), ('repeated', 'Already scanned here')], max_length=20, verbose_name='result')),
                        ('scanned_at', models.DateTimeField(auto_now_add=True, verbose_name='scanned at')),
                        ('undone_at', models.DateTimeField(blank=True, null=True)),
                        ('location', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='terminals.location')),
                        ('scanned_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('terminal', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='terminals.terminal')),
                        ('stocktake', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='scans', to='compliance.stocktake')),
                    ],
                    options={
                        'db_table': 'terminals_scan',
                        'ordering': ['-scanned_at', '-id'],
                    },
                ),
                migrations.AddField(
                    model_name='discrepancy',
                    name='stocktake',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='discrepancies', to='compliance.stocktake', verbose_name='stock-take'),
                ),
                migrations.CreateModel(
                    name='StockTakeExpectation',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('status', models.CharField(choices=[('in_storage', 'In storage'), ('reserved', 'Reserved'), ('lent', 'Lent'), ('returned', 'Returned (awaiting rotation)'), ('maintenance', 'Maintenance'), ('lost', 'Lost'), ('retired', 'Retired')], max_length=16)),
                        ('location', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='terminals.location')),
                        ('stocktake', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='expectations', to='compliance.stocktake')),
                        ('terminal', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='terminals.terminal')),
                    ],
                    options={
                        'db_table': 'terminals_stocktakeexpectation',
                    },
                ),
                migrations.AddConstraint(
                    model_name='stocktake',
                    constraint=models.CheckConstraint(condition=models.Q(('status__in', ['open', 'closed', 'completed'])), name='stocktake_status_valid'),
                ),
                migrations.AddConstraint(
                    model_name='stocktake',
                    constraint=models.UniqueConstraint(condition=models.Q(('status', 'open')), fields=('site',), name='stocktake_one_open_per_site'),
                ),
                migrations.AddIndex(
                    model_name='scan',
                    index=models.Index(fields=['stocktake', 'terminal'], name='terminals_s_stockta_3dab40_idx'),
                ),
                migrations.AddConstraint(
                    model_name='discrepancy',
                    constraint=models.CheckConstraint(condition=models.Q(('status__in', ['open', 'resolved'])), name='discrepancy_status_valid'),
                ),
                migrations.AddConstraint(
                    model_name='discrepancy',
                    constraint=models.UniqueConstraint(condition=models.Q(('status', 'open'), ('stocktake__isnull', True)), fields=('kind', 'subject'), name='discrepancy_one_open_finding'),
                ),
                migrations.AddIndex(
                    model_name='stocktakeexpectation',
                    index=models.Index(fields=['stocktake', 'location'], name='terminals_s_stockta_23c784_idx'),
                ),
                migrations.AddConstraint(
                    model_name='stocktakeexpectation',
                    constraint=models.UniqueConstraint(fields=('stocktake', 'terminal'), name='expectation_once'),
                ),
            ],
            database_operations=[],
        ),
    ]
