"""Reading CSV and JSON-lines logs into sign-ins: counts, refusals, duplicates, hostile input."""

import datetime
import io
import json

import pytest
import time_machine

import compliance.access_logs.ingestion as ingestion_module
from compliance.access_logs.ingestion import (
    FileRefused,
    access_log_files_remove_left,
    access_log_ingestion_create,
    access_log_ingestion_run,
    access_log_ingestions_resend,
    access_log_mapping_update,
)
from compliance.models import AccessLogIngestion, IngestionStatus, SignInEvent
from core.errors import InvalidInput
from core.models import AuditEvent
from tests.compliance.access_logs.conftest import HEADER, ingest
from tests.support.db import nothing_written

UTC = datetime.UTC


def events(target):
    return list(SignInEvent.objects.filter(target_system=target).order_by("line_number"))


def test_a_csv_log_becomes_sign_ins_with_their_lines(target):
    ingestion = ingest(
        target,
        HEADER
        + "2026-11-20T10:00:00+09:00,nwabc123,success,nwpc-0001,192.0.2.10\n"
        + "2026-11-20T10:05:00+09:00,nwabc123,failure,,\n",
    )
    assert ingestion.status == IngestionStatus.DONE
    assert (ingestion.lines_read, ingestion.accepted, ingestion.malformed) == (3, 2, 0)
    first, second = events(target)
    assert first.occurred_at == datetime.datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    assert (first.login_id, first.result, first.source_host) == ("nwabc123", "success", "nwpc-0001")
    assert first.source_address == "192.0.2.10"
    assert first.line_number == 2
    assert first.raw_line == "2026-11-20T10:00:00+09:00,nwabc123,success,nwpc-0001,192.0.2.10"
    assert (second.result, second.source_host, second.source_address) == ("failure", "", None)
    assert not ingestion.file  # removed once read
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"access_log.ingestion_queued", "access_log.ingestion_done"} <= actions


def test_a_json_lines_log_reads_through_the_same_mapping(target):
    lines = [
        {"time": "2026-11-20T01:00:00Z", "login_id": "nwabc123", "result": "ok", "host": "x"},
        {"time": "2026-11-20T01:01:00Z", "login_id": "nwabc123", "result": 1, "address": "-"},
    ]
    content = "\n".join(json.dumps(line) for line in lines) + "\n"
    ingestion = ingest(target, content, format="jsonl")
    assert (ingestion.accepted, ingestion.malformed) == (2, 0)
    assert [e.result for e in events(target)] == ["success", "failure"]


def test_the_mapping_names_the_columns_the_time_format_and_the_values(target, security):
    access_log_mapping_update(
        target_system=target,
        actor=security,
        time_column="日時",
        login_id_column="ユーザーID",
        result_column="結果",
        source_host_column="端末名",
        source_address_column="",
        time_format="%Y/%m/%d %H:%M:%S",
        time_zone="Asia/Tokyo",
        success_values="成功",
        failure_values="失敗",
    )
    ingestion = ingest(
        target,
        "日時,ユーザーID,結果,端末名\n2026/11/20 10:00:00,ＮＷＡＢＣ１２３,成功,NWPC-0001\n",
    )
    assert ingestion.accepted == 1
    event = events(target)[0]
    # Full-width and upper case as a Japanese IME typed it: the ID as the service issued it.
    assert (event.login_id, event.source_host) == ("nwabc123", "nwpc-0001")
    assert event.occurred_at == datetime.datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    assert AuditEvent.objects.filter(action="access_log.mapping_updated").count() == 1


def test_a_mapping_with_a_value_meaning_both_results_is_refused(target, security):
    with pytest.raises(InvalidInput) as refused:
        access_log_mapping_update(
            target_system=target, actor=security, success_values="ok,0", failure_values="0,ng"
        )
    assert "failure_values" in refused.value.field_errors


def test_a_header_that_does_not_match_the_mapping_refuses_the_file_and_writes_nothing(target):
    with nothing_written(), pytest.raises(FileRefused) as refused:
        ingest(target, "when,user,outcome\n2026-11-20T10:00:00,nwabc123,success\n")
    assert "login_id" in refused.value.message
    assert "file" in refused.value.field_errors


def test_json_lines_without_the_mapped_keys_are_refused(target):
    with nothing_written(), pytest.raises(FileRefused):
        ingest(target, '{"when": "2026-11-20T10:00:00", "user": "x"}\n', format="jsonl")


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8,
        "time,login_id,result,host,address\n".encode("utf-16"),
        b"\x1f\x8b\x08\x00" + b"\x00\x01\x02" * 100,
    ],
    ids=["png", "utf-16", "gzip"],
)
def test_a_file_that_is_not_text_is_refused_whole(target, content):
    with nothing_written(), pytest.raises(FileRefused) as refused:
        ingest(target, content)
    assert "nothing was read" in refused.value.message


def test_malformed_lines_are_counted_with_their_numbers_and_never_stop_the_file(target):
    content = (
        HEADER.encode()
        + b"yesterday,nwabc123,success,,\n"  # 2: bad time
        + b"2026-11-20T10:00:00,nwabc123,maybe,,\n"  # 3: unknown result
        + b"2026-11-20T10:00:00,,success,,\n"  # 4: no login ID
        + b"2026-11-20T10:00:00,nw\x00x,success,,\n"  # 5: NUL byte
        + b"2026-11-20T10:00:00,nw\xff\xfe,success,,\n"  # 6: not UTF-8
        + b"2026-11-20T10:00:00,nwabc123,success,,\n"  # 7: fine
        + b"2026-11-20T10:00:00,nwabc123,success\n"  # 8: too few fields
        + b"2026-11-20T10:00:00,nwabc123,success,,not-an-ip\n"  # 9: bad address
        + b"2026-11-20T10:01:00,nwabc123,success,,\n"  # 10: fine
    )
    ingestion = ingest(target, content)
    assert ingestion.status == IngestionStatus.DONE
    assert (ingestion.lines_read, ingestion.accepted, ingestion.malformed) == (10, 2, 7)
    lines = {p["line"]: p["reason"] for p in ingestion.problems}
    assert sorted(lines) == [2, 3, 4, 5, 6, 8, 9]
    assert "time" in lines[2]
    assert "result" in lines[3] and "maybe" in lines[3]
    assert "login ID" in lines[4]
    assert "NUL" in lines[5]
    assert "UTF-8" in lines[6]
    assert [e.line_number for e in events(target)] == [7, 10]


def test_times_at_the_edge_of_the_calendar_are_malformed_lines_not_a_stuck_file(target):
    content = (
        HEADER
        + "2026-11-20T10:00:00,nwabc123,success,,\n"  # 2: fine
        + "0001-01-01T00:00:00+09:00,nwabc123,success,,\n"  # 3: before year 1 in UTC
        + "9999-12-31T23:59:59-05:00,nwabc123,success,,\n"  # 4: after year 9999 in UTC
        + "2026-11-20T10:01:00,nwabc123,success,,\n"  # 5: fine
    )

    ingestion = ingest(target, content)

    assert ingestion.status == IngestionStatus.DONE
    assert (ingestion.accepted, ingestion.malformed) == (2, 2)
    assert {p["line"] for p in ingestion.problems} == {3, 4}
    assert all("time" in p["reason"] for p in ingestion.problems)


def test_only_the_first_hundred_problems_are_kept_but_all_are_counted(target):
    content = HEADER + "bad,nwabc123,success,,\n" * 150
    ingestion = ingest(target, content)
    assert ingestion.malformed == 150
    assert len(ingestion.problems) == 100
    assert ingestion.problems[0] == {"line": 2, "reason": ingestion.problems[0]["reason"]}


def test_the_same_file_twice_and_overlapping_exports_are_stored_once(target):
    day1 = "2026-11-20T10:00:00,nwabc123,success,,\n2026-11-20T11:00:00,nwabc123,success,,\n"
    day2 = "2026-11-20T11:00:00,nwabc123,success,,\n2026-11-20T12:00:00,nwdef456,failure,,\n"
    first = ingest(target, HEADER + day1)
    again = ingest(target, HEADER + day1)
    overlap = ingest(target, HEADER + day2)
    assert (first.accepted, first.duplicates) == (2, 0)
    assert (again.accepted, again.duplicates) == (0, 2)
    assert (overlap.accepted, overlap.duplicates) == (1, 1)
    assert SignInEvent.objects.count() == 3


def test_a_line_repeated_within_one_file_is_stored_once(target, settings):
    settings.ACCESS_LOG_BATCH_LINES = 2  # the repeat falls in another batch as well
    line = "2026-11-20T10:00:00,nwabc123,success,,\n"
    ingestion = ingest(target, HEADER + line * 5)
    assert (ingestion.accepted, ingestion.duplicates) == (1, 4)


def test_the_same_line_on_another_target_is_another_sign_in(target):
    from credentials.targets import target_system_create

    other = target_system_create(actor=None, code="online", name="オンライン", connector="local")
    line = HEADER + "2026-11-20T10:00:00,nwabc123,success,,\n"
    ingest(target, line)
    assert ingest(other, line).accepted == 1


def test_out_of_order_and_late_lines_keep_their_own_times(target):
    ingest(target, HEADER + "2026-11-20T12:00:00Z,nwabc123,success,,\n")
    late = ingest(
        target,
        HEADER + "2026-11-20T11:00:00Z,nwabc123,success,,\n2026-11-19T09:00:00Z,nwx,failure,,\n",
    )
    assert late.accepted == 2
    times = [e.occurred_at.hour for e in SignInEvent.objects.order_by("occurred_at")]
    assert times == [9, 11, 12]


def test_a_utc_log_and_a_naive_tokyo_log_store_the_same_moment(target, security):
    ingest(target, HEADER + "2026-11-20T01:00:00Z,nwabc123,success,,\n")
    ingest(target, HEADER + "2026-11-20 10:00:00,nwdef456,success,,\n")
    moments = {e.login_id: e.occurred_at for e in SignInEvent.objects.all()}
    assert moments["nwabc123"] == moments["nwdef456"]
    access_log_mapping_update(target_system=target, actor=security, time_zone="UTC")
    ingest(target, HEADER + "2026-11-20 10:00:00,nwghi789,success,,\n")
    utc = SignInEvent.objects.get(login_id="nwghi789").occurred_at
    assert utc - moments["nwabc123"] == datetime.timedelta(hours=9)


def test_formula_prefixed_fields_are_stored_as_read(target):
    ingestion = ingest(
        target,
        HEADER + '2026-11-20T10:00:00,"=HYPERLINK(""http://x"")",success,@evil,\n'
        "2026-11-20T10:00:00,+nw1,success,-host,\n",
    )
    assert ingestion.accepted == 2
    assert {e.login_id for e in events(target)} == {'=hyperlink("http://x")', "+nw1"}
    assert {e.source_host for e in events(target)} == {"@evil", "-host"}


def test_a_one_megabyte_line_is_skipped_without_stopping_the_file(target, monkeypatch):
    import compliance.access_logs.parsers as parsers

    longest: list[int] = []
    real = parsers.read_lines

    class Watched:
        def __init__(self, file):
            self.file = file

        def readline(self, limit=-1):
            assert 0 < limit <= parsers.MAX_LINE_BYTES + 1, "a read without a bound"
            line = self.file.readline(limit)
            longest.append(len(line))
            return line

    def watched(file, count=None):
        return real(Watched(file), count)

    monkeypatch.setattr(parsers, "read_lines", watched)
    huge = "2026-11-20T10:00:00,nw" + "x" * (1024 * 1024) + ",success,,\n"
    ingestion = ingest(target, HEADER + huge + "2026-11-20T10:00:00,nwabc123,success,,\n")
    assert (ingestion.lines_read, ingestion.accepted, ingestion.malformed) == (3, 1, 1)
    assert ingestion.problems[0]["line"] == 2 and "longer" in ingestion.problems[0]["reason"]
    assert max(longest) <= parsers.MAX_LINE_BYTES + 1


def test_progress_is_saved_after_each_batch(target, settings, monkeypatch):
    import compliance.access_logs.ingestion as ingestion_module

    settings.ACCESS_LOG_BATCH_LINES = 3
    seen: list[tuple[int, int]] = []
    real = ingestion_module._Progress.store

    def store(self, events, malformed, lines):
        real(self, events, malformed, lines)
        row = AccessLogIngestion.objects.get(pk=self.ingestion.pk)
        seen.append((row.lines_read, row.accepted))

    monkeypatch.setattr(ingestion_module._Progress, "store", store)
    lines = "".join(f"2026-11-20T10:00:{s:02d},nwabc123,success,,\n" for s in range(7))
    ingestion = ingest(target, HEADER + lines)
    assert ingestion.accepted == 7
    assert seen[:3] == [(4, 3), (7, 6), (8, 7)]


def test_an_unknown_format_is_refused_on_its_field(target):
    with nothing_written(), pytest.raises(InvalidInput) as refused:
        ingest(target, HEADER, format="xml")
    assert "format" in refused.value.field_errors


def test_a_broker_that_is_down_loses_nothing_the_sweeper_sends_it_again(
    target, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr("compliance.access_logs.ingestion.enqueue", lambda *args: False)
    with django_capture_on_commit_callbacks(execute=True):
        ingestion = access_log_ingestion_create(
            actor=None,
            target_system=target,
            format="csv",
            file=io.BytesIO((HEADER + "2026-11-20T10:00:00,nwabc123,success,,\n").encode()),
            source="api",
        )
    ingestion.refresh_from_db()
    assert ingestion.status == IngestionStatus.QUEUED and ingestion.file
    monkeypatch.undo()
    # Not yet a minute old: left alone; a minute later, sent (and run, in the tests).
    assert access_log_ingestions_resend() == 0
    later = ingestion.created_at + datetime.timedelta(seconds=61)
    assert access_log_ingestions_resend(now=later) == 1
    ingestion.refresh_from_db()
    assert (ingestion.status, ingestion.accepted) == (IngestionStatus.DONE, 1)


def test_a_running_ingestion_whose_worker_died_is_read_again_with_stored_lines_as_duplicates(
    target, settings, monkeypatch
):
    settings.ACCESS_LOG_BATCH_LINES = 2
    import compliance.access_logs.ingestion as ingestion_module

    real = ingestion_module._Progress.store
    calls = {"n": 0}

    def dies_after_first_batch(self, *args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit  # the worker is killed mid-file
        real(self, *args)

    monkeypatch.setattr(ingestion_module._Progress, "store", dies_after_first_batch)
    lines = "".join(f"2026-11-20T10:00:{s:02d},nwabc123,success,,\n" for s in range(5))
    with pytest.raises(SystemExit):
        ingest(target, HEADER + lines)
    ingestion = AccessLogIngestion.objects.get()
    assert ingestion.status == IngestionStatus.RUNNING
    monkeypatch.setattr(ingestion_module._Progress, "store", real)
    # Still progressing as far as anyone knows: a second run leaves it to its worker.
    access_log_ingestion_run(ingestion.pk)
    assert AccessLogIngestion.objects.get().status == IngestionStatus.RUNNING
    stalled = ingestion.progressed_at + datetime.timedelta(
        seconds=settings.ACCESS_LOG_STALL_SECONDS
    )
    with time_machine.travel(stalled + datetime.timedelta(seconds=1)):
        assert access_log_ingestions_resend() == 1
    ingestion.refresh_from_db()
    assert ingestion.status == IngestionStatus.DONE
    assert (ingestion.accepted, ingestion.duplicates) == (3, 2)
    assert SignInEvent.objects.count() == 5


def test_a_log_file_left_by_a_process_killed_after_the_commit_is_removed_by_the_sweeper(
    target, monkeypatch
):
    with monkeypatch.context() as killed:
        killed.setattr(ingestion_module, "_remove_file", lambda ingestion: None)
        ingestion = ingest(target, HEADER + "2026-11-20T10:00:00,nwabc123,success,,\n")
    assert ingestion.status == IngestionStatus.DONE
    stored = ingestion.file.name
    assert stored and ingestion.file.storage.exists(stored)

    assert access_log_files_remove_left() == 1

    ingestion.refresh_from_db()
    assert ingestion.file.name == ""
    assert not ingestion.file.storage.exists(stored)
    assert access_log_files_remove_left() == 0
