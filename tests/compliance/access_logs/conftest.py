import io

import pytest

from compliance.access_logs.ingestion import access_log_ingestion_create, access_log_ingestion_run
from compliance.models import AccessLogIngestion
from credentials.targets import target_system_create

HEADER = "time,login_id,result,host,address\n"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    """Each test keeps its uploaded logs in its own folder."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def target(db):
    return target_system_create(
        actor=None, code="callcenter", name="コールセンターシステム", connector="local"
    )


def ingest(target, content: bytes | str, *, format="csv", actor=None, source="api", name="log"):
    """Ingest `content` as the worker would after the commit, and answer the ingestion re-read
    (test_ingestion shows the commit sending the task)."""
    if isinstance(content, str):
        content = content.encode()
    ingestion = access_log_ingestion_create(
        actor=actor,
        target_system=target,
        format=format,
        file=io.BytesIO(content),
        source=source,
        file_name=name,
        send=False,
    )
    access_log_ingestion_run(ingestion.pk)
    return AccessLogIngestion.objects.get(pk=ingestion.pk)
