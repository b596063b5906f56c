import os

from celery import Celery, signals
from django.db import connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("nwterm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _make_filesystem_broker_folders(sender: Celery, **_: object) -> None:
    # The filesystem broker and result backend (embedded default) need their folders before
    # the first message: the backend refuses to start without its own.
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            os.makedirs(options[key], exist_ok=True)
    backend = sender.conf.result_backend or ""
    if backend.startswith("file://"):
        os.makedirs(backend.removeprefix("file://"), exist_ok=True)


@signals.task_prerun.connect
def _database_connection_fit_for_the_task(task=None, **_: object) -> None:
    """A worker keeps its database connection from task to task (CELERY_DB_REUSE_MAX; Celery
    would otherwise open one per task, and PostgreSQL would plan every statement afresh); one
    that broke (the database restarted) or outlived CONN_MAX_AGE is closed here, and the task
    opens a new one."""
    if task is not None and getattr(task.request, "is_eager", False):
        return  # in the caller's process and transaction
    for connection in connections.all(initialized_only=True):
        if connection.in_atomic_block:
            continue
        connection.close_if_unusable_or_obsolete()
        if connection.connection is not None and not connection.is_usable():
            connection.close()


def _keep_django_logging(**_: object) -> None:
    """Django's LOGGING (set up with Django) stays as it is."""


# With LOG_FORMAT=json the worker and beat keep Django's LOGGING, one JSON object a line: a
# receiver of setup_logging stops Celery from replacing the root handlers with its own text
# ones. The text default keeps Celery's own format, as the embedded setup always had it.
if os.environ.get("LOG_FORMAT") == "json":
    signals.setup_logging.connect(_keep_django_logging, weak=False)
