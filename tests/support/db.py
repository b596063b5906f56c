"""`nothing_written`: a refused write leaves the database as it found it; `migrate_to`: the
database as an older version of the service left it."""

from contextlib import contextmanager

from django.apps import apps
from django.db import connection, models
from django.db.migrations.executor import MigrationExecutor

# The project's own apps: every table a write of ours could touch, the audit trail among them.
OUR_APPS = ("core", "terminals", "credentials", "lending", "compliance", "portal")
# A test's force_login inside the block passes the second factor with the person's authenticator,
# made then if they had none (conftest): a sign-in, not the write under test.
NOT_COUNTED = ("core.Authenticator",)


def row_counts() -> dict[str, int]:
    """Rows in each table of our apps, by model label."""
    return {
        model._meta.label: model._base_manager.count()
        for label in OUR_APPS
        for model in apps.get_app_config(label).get_models()
        if model._meta.label not in NOT_COUNTED
    }


def _rows(watched: models.Model | type[models.Model]) -> tuple[str, list[dict]]:
    """The watched rows as stored: every row of a model, or one object's row, re-read."""
    if isinstance(watched, type):
        model, rows = watched, watched._base_manager.order_by("pk")
        name = model._meta.label
    else:
        model = type(watched)
        rows = model._base_manager.filter(pk=watched.pk)
        name = f"{model._meta.label} {watched.pk}"
    fields = [field.attname for field in model._meta.concrete_fields]
    return name, list(rows.values(*fields))


@contextmanager
def nothing_written(*watched: models.Model | type[models.Model]):
    """Asserts that the block added or deleted no row in any of our apps' tables (so the audit
    trail did not grow) and that each watched row is as it was: an object's row re-read from the
    database, or every row of a model. The block's exception, if any, still propagates."""
    counts = row_counts()
    before = [_rows(item) for item in watched]
    yield
    after_counts = row_counts()
    grown = {
        label: (count, after_counts[label])
        for label, count in counts.items()
        if after_counts[label] != count
    }
    assert not grown, f"a refused write changed row counts (before, after): {grown}"
    for (name, rows), item in zip(before, watched, strict=True):
        _, now = _rows(item)
        assert now == rows, f"a refused write changed {name}: {rows} -> {now}"


def migrate_to(targets=None):
    """Migrate the test database to `targets` (app, migration) pairs, or to the latest of every
    app; the apps as they stand there, to write rows as an older version of the service did."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps
