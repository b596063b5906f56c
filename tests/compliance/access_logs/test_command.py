"""`manage.py ingest_access_log PATH --target CODE`: in process, counts printed, exit 2 refused."""

import pytest
from django.core.management import CommandError, call_command

from compliance.models import AccessLogIngestion, IngestionSource, SignInEvent
from tests.compliance.access_logs.conftest import HEADER
from tests.support.db import nothing_written


def run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("ingest_access_log", *args, stdout=out)
    return out.getvalue()


def test_it_reads_the_file_in_process_and_prints_the_counts(target, tmp_path):
    log = tmp_path / "cc-2026-11-20.csv"
    log.write_text(HEADER + "2026-11-20T10:00:00,nwabc123,success,,\nbad,nwabc123,ok,,\n")
    output = run(str(log), "--target", "callcenter")
    assert "2 lines read" not in output  # the header is a line too
    assert "3 lines read, 1 accepted, 0 duplicates, 1 malformed" in output
    assert "line 3:" in output
    ingestion = AccessLogIngestion.objects.get()
    assert (ingestion.status, ingestion.source) == ("done", IngestionSource.COMMAND)
    assert SignInEvent.objects.count() == 1
    assert log.exists()  # the command reads a copy; the caller's file is left alone


def test_a_second_run_over_the_same_file_counts_duplicates(target, tmp_path):
    log = tmp_path / "cc.csv"
    log.write_text(HEADER + "2026-11-20T10:00:00,nwabc123,success,,\n")
    run(str(log), "--target", "callcenter")
    assert "0 accepted, 1 duplicates" in run(str(log), "--target", "callcenter", "--format", "csv")


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "No file"),
        (lambda p: p.write_text("when,who\nx,y\n"), "does not match"),
        (lambda p: p.write_bytes(b"\x00\x01\x02" * 100), "not text"),
    ],
    ids=["missing", "mapping", "binary"],
)
def test_a_missing_or_refused_file_exits_with_2_and_writes_nothing(
    target, tmp_path, setup, message
):
    log = tmp_path / "cc.csv"
    setup(log)
    with nothing_written(), pytest.raises(CommandError) as refused:
        run(str(log), "--target", "callcenter")
    assert refused.value.returncode == 2
    assert message in str(refused.value)


def test_an_unknown_target_exits_with_2(db, tmp_path):
    log = tmp_path / "cc.csv"
    log.write_text(HEADER)
    with pytest.raises(CommandError) as refused:
        run(str(log), "--target", "nowhere")
    assert refused.value.returncode == 2
    assert "nowhere" in str(refused.value)
