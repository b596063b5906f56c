"""On PostgreSQL a CSV log is parsed in SQL over a staging table (ingestion._PARSE_SQL), with
the lines SQL does not read exactly handed back to parsers.csv_item: whatever the path, every
line must come out as the Python parser reads it, to the microsecond and the reason."""

import io

import pytest
from django.db import connection

from compliance.access_logs.ingestion import access_log_mapping_update, mapping_spec
from compliance.access_logs.parsers import Malformed, ParsedEvent, parse_csv
from compliance.models import SignInEvent
from tests.compliance.access_logs.conftest import HEADER, ingest

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the SQL reading is PostgreSQL's"
)

LINES = [
    "2026-11-20T10:00:00+09:00,nwabc123,success,nwpc-0001,192.0.2.10",
    "2026-11-20T01:00:00Z,NWABC123,SUCCESS,NWPC-0001.grid.example,192.0.2.10",
    "2026-11-20 10:00:00,nwabc124,ok,-,-",
    "2026-11-20T10:00:00.5+09:00,nwabc125,0,,",
    "2026-11-20T10:00:00.123456-03:30,nwabc126,failure,h,",
    "2026-11-20T10:00:00.1234567+09:00,nwabc127,success,,",
    "2026-11-20T10:00:00.12+14:00,nwabc128,fail,,",
    "2026-11-20T10:00:00+23:59,nwabc129,denied,,",
    "2026-11-20T10:00:00+24:00,nwabc130,success,,",
    "2024-02-29T10:00:00,nwabc131,success,,",
    "2026-02-29T10:00:00,nwabc132,success,,",
    "2026-02-30T10:00:00,nwabc133,success,,",
    "2026-13-01T10:00:00,nwabc134,success,,",
    "2026-11-20T24:00:00,nwabc135,success,,",
    "2026-11-20T10:00:60,nwabc136,success,,",
    "2026-11-20T10:60:00,nwabc137,success,,",
    "1950-06-01T10:00:00,nwabc138,success,,",
    "1899-06-01T10:00:00+09:00,nwabc139,success,,",
    "3000-06-01T10:00:00Z,nwabc140,success,,",
    "20261120T100000,nwabc141,success,,",
    "2026-11-20T10:00,nwabc142,success,,",
    "2026-11-20,nwabc143,success,,",
    "yesterday,nwabc144,success,,",
    " 2026-11-20T10:00:00 ,  nwabc145 , success , nwpc-0001 , 192.0.2.10 ",
    "2026-11-20T10:00:00,ＮＷＡＢＣ１４６,success,,",
    "2026-11-20T10:00:00,=cmd|' /C calc'!A0,success,@evil,",
    '2026-11-20T10:00:00,"nw,quoted",success,,',
    "2026-11-20T10:00:00,nw\\back\tslash,success,,",
    "2026-11-20T10:00:00,nwabc147,success,,2001:DB8::1",
    "2026-11-20T10:00:00,nwabc148,success,,192.0.2.1:50000",
    "2026-11-20T10:00:00,nwabc149,success,,010.0.0.1",
    "2026-11-20T10:00:00,nwabc150,success,,256.0.0.1",
    "2026-11-20T10:00:00,nwabc151,success,,not-an-ip",
    "2026-11-20T10:00:00," + "n" * 64 + ",success,,",
    "2026-11-20T10:00:00," + "n" * 65 + ",success,,",
    "2026-11-20T10:00:00,nwabc152,maybe,,",
    "2026-11-20T10:00:00,,success,,",
    "2026-11-20T10:00:00,nwabc153,success,,,extra",
    "2026-11-20T10:00:00,nwabc154,success",
    "",
    "   ",
    "2026-11-20T10:00:00,nwabc155,success," + "h" * 256 + ",",
    "2026-11-20T10:00:00,nwabc156,success,ＰＣ,",
    "2026-11-20T10:00:00\r,nwabc157,success,,",
    "2026-11-20T10:00:00+09:00,nwabc123,success,nwpc-0001,192.0.2.10",  # line 2 again
]


def expected(target, content: bytes):
    events, malformed = {}, []
    for item in parse_csv(io.BytesIO(content), spec=mapping_spec(target), target_code=target.code):
        if isinstance(item, ParsedEvent):
            events.setdefault(item.fingerprint, item)
        else:
            assert isinstance(item, Malformed)
            malformed.append({"line": item.line_number, "reason": item.reason})
    return events, malformed


def stored(target):
    return {event.fingerprint: event for event in SignInEvent.objects.filter(target_system=target)}


@pytest.mark.parametrize("batch", [1000, 7])
def test_every_line_reads_as_the_python_parser_reads_it(target, settings, batch):
    settings.ACCESS_LOG_BATCH_LINES = batch
    content = (HEADER + "\n".join(LINES) + "\n").encode()
    events, malformed = expected(target, content)
    ingestion = ingest(target, content)
    assert ingestion.problems == malformed
    assert ingestion.duplicates == 1
    got = stored(target)
    assert set(got) == set(events)
    for fingerprint, event in events.items():
        row = got[fingerprint]
        assert (row.occurred_at, row.login_id, row.result, row.source_host) == (
            event.occurred_at,
            event.login_id,
            event.result,
            event.source_host,
        ), event.raw_line
        assert (row.source_address, row.line_number, row.raw_line) == (
            event.source_address,
            event.line_number,
            event.raw_line,
        )


def test_another_mapping_reads_the_same_way(target, security):
    """Columns in another order, a duplicate column name, a zone with summer time (times
    without an offset go through Python), no address column."""
    access_log_mapping_update(
        target_system=target,
        actor=security,
        time_column="when",
        login_id_column="user",
        result_column="outcome",
        source_host_column="pc",
        source_address_column="",
        time_zone="Europe/Berlin",
        success_values="OK,granted",
        failure_values="NG",
    )
    header = "outcome,pc,user,when,user\n"
    lines = [
        "ok,PC-1,ignored,2026-07-01 10:00:00,nwA1",
        "granted,PC-2,ignored,2026-07-01T10:00:00+02:00,nwA2",
        "ng,PC-3,ignored,2026-01-01T10:00:00Z,nwA3",
        "Ok,PC-4,ignored,2026-03-29 02:30:00,nwA4",
        "maybe,PC-5,ignored,2026-01-01T10:00:00Z,nwA5",
    ]
    content = (header + "\n".join(lines) + "\n").encode()
    events, malformed = expected(target, content)
    ingestion = ingest(target, content)
    assert ingestion.problems == malformed and len(malformed) == 1
    got = stored(target)
    assert {f: (e.occurred_at, e.login_id, e.result, e.source_host) for f, e in events.items()} == {
        f: (e.occurred_at, e.login_id, e.result, e.source_host) for f, e in got.items()
    }
