"""The moved tables take compliance's names, and a discrepancy refers to its account and its loan
by foreign key (until now they were ids inside `details`, filled in here from there). Content
types follow the models, so every permission granted on them stays granted."""

import django.db.models.deletion
from django.db import migrations, models

MOVED = ["stocktake", "stocktakeexpectation", "scan", "discrepancy", "discrepancyevidence"]


def relabel_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="terminals", model__in=MOVED).update(
        app_label="compliance"
    )


def unlabel_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="compliance", model__in=MOVED).update(
        app_label="terminals"
    )


def subjects_from_details(apps, schema_editor):
    Discrepancy = apps.get_model("compliance", "Discrepancy")
    Account = apps.get_model("credentials", "Account")
    Loan = apps.get_model("lending", "Loan")
    accounts = set(Account.objects.values_list("pk", flat=True))
    loans = set(Loan.objects.values_list("pk", flat=True))
    for discrepancy in Discrepancy.objects.filter(
        models.Q(details__has_key="account") | models.Q(details__has_key="loan")
    ).iterator():
        details = dict(discrepancy.details)
        account_id, loan_id = details.pop("account", None), details.pop("loan", None)
        discrepancy.account_id = account_id if account_id in accounts else None
        discrepancy.loan_id = loan_id if loan_id in loans else None
        # An id that no longer resolves stays in the details: nothing recorded is lost.
        if account_id is not None and discrepancy.account_id is None:
            details["account"] = account_id
        if loan_id is not None and discrepancy.loan_id is None:
            details["loan"] = loan_id
        discrepancy.details = details
        discrepancy.save(update_fields=["account", "loan", "details"])


def subjects_to_details(apps, schema_editor):
    Discrepancy = apps.get_model("compliance", "Discrepancy")
    for discrepancy in Discrepancy.objects.filter(
        models.Q(account__isnull=False) | models.Q(loan__isnull=False)
    ).iterator():
        if discrepancy.account_id is not None:
            discrepancy.details["account"] = discrepancy.account_id
        if discrepancy.loan_id is not None:
            discrepancy.details["loan"] = discrepancy.loan_id
        discrepancy.save(update_fields=["details"])


class Migration(migrations.Migration):

    dependencies = [
        ('compliance', '0001_initial'),
        ('terminals', '0003_stocktakes_move_to_compliance'),
        ('credentials', '0001_initial'),
        ('lending', '0001_initial'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.RunPython(relabel_content_types, unlabel_content_types),
        migrations.AlterModelTable(name='stocktake', table=None),
        migrations.AlterModelTable(name='stocktakeexpectation', table=None),
        migrations.AlterModelTable(name='scan', table=None),
        migrations.AlterModelTable(name='discrepancy', table=None),
        migrations.AlterModelTable(name='discrepancyevidence', table=None),
        migrations.RenameIndex(
            model_name='scan',
            new_name='scan_of_terminal',
            old_name='terminals_s_stockta_3dab40_idx',
        ),
        migrations.RenameIndex(
            model_name='stocktakeexpectation',
            new_name='expectation_at_location',
            old_name='terminals_s_stockta_23c784_idx',
        ),
        migrations.AddField(
            model_name='discrepancy',
            name='account',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='discrepancies', to='credentials.account', verbose_name='account'),
        ),
        migrations.AddField(
            model_name='discrepancy',
            name='loan',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='discrepancies', to='lending.loan', verbose_name='loan'),
        ),
        migrations.RunPython(subjects_from_details, subjects_to_details),
    ]
