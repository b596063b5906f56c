"""The access-log pages: upload and progress, malformed lines, sign-ins, the mapping."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from compliance.models import AccessLogIngestion, AccessLogMapping
from core.models import AuditEvent
from tests.compliance.access_logs.conftest import HEADER, ingest
from tests.support.db import nothing_written

LIST = "/terminals/access-logs/"
SIGN_INS = "/terminals/sign-ins/"


def upload(client, content: bytes, **fields):
    data = {"target": "callcenter", "format": "csv", **fields}
    data["file"] = SimpleUploadedFile("export.csv", content, "text/csv")
    return client.post(LIST, data)


def test_security_uploads_a_log_and_lands_on_its_page(as_user, security, target):
    client = as_user(security)
    response = upload(client, (HEADER + "2026-11-20T10:00:00,nwabc123,success,,\n").encode())
    ingestion = AccessLogIngestion.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{LIST}{ingestion.pk}/"
    assert ingestion.created_by == security and ingestion.source == "upload"


def test_a_refused_upload_shows_why_on_the_form_and_writes_nothing(as_user, security, target):
    client = as_user(security)
    with nothing_written():
        response = upload(client, b"when,who\nx,y\n")
    assert response.status_code == 200
    assert "does not match" in response.content.decode() or "一致" in response.content.decode()


def test_the_page_refreshes_itself_only_while_the_log_is_read(as_user, auditor, target):
    client = as_user(auditor)
    done = ingest(target, HEADER + "2026-11-20T10:00:00,nwabc123,success,,\n")
    queued = AccessLogIngestion.objects.create(
        target_system=target, format="csv", source="api", file_name="later.csv", lines_read=5000
    )
    waiting = client.get(f"{LIST}{queued.pk}/").content.decode()
    assert 'http-equiv="refresh"' in waiting
    assert '<dd class="lines-read">5000</dd>' in waiting
    finished = client.get(f"{LIST}{done.pk}/").content.decode()
    assert 'http-equiv="refresh"' not in finished


def test_malformed_lines_are_listed_with_their_numbers(as_user, auditor, target):
    ingestion = ingest(target, HEADER + "2026-11-20T10:00:00,nwabc123,success,,\nbad,nw1,ok,,\n")
    page = as_user(auditor).get(f"{LIST}{ingestion.pk}/", HTTP_ACCEPT_LANGUAGE="en")
    body = page.content.decode()
    assert '<td class="num" data-label="Line">3</td>' in body
    assert "bad time" in body


def test_the_list_shows_counts_and_only_security_gets_the_upload_form(
    as_user, auditor, security, target
):
    ingest(target, HEADER + "2026-11-20T10:00:00,nwabc123,success,,\n", name="cc.csv")
    for_auditor = as_user(auditor).get(LIST).content.decode()
    assert "cc.csv" in for_auditor and 'enctype="multipart/form-data"' not in for_auditor
    assert 'enctype="multipart/form-data"' in as_user(security).get(LIST).content.decode()
    with nothing_written():
        assert upload(as_user(auditor), HEADER.encode()).status_code == 403


def test_the_sign_ins_page_filters_like_the_api_and_escapes_what_it_shows(as_user, auditor, target):
    ingest(
        target,
        HEADER
        + '2026-11-20T10:00:00,"<script>x</script>",success,,\n'
        + "2026-11-20T10:00:00,nwabc123,failure,,\n",
    )
    client = as_user(auditor)
    body = client.get(SIGN_INS, {"result": "failure"}).content.decode()
    assert "nwabc123" in body and "&lt;script&gt;" not in body
    everything = client.get(SIGN_INS).content.decode()
    assert "&lt;script&gt;x&lt;/script&gt;" in everything and "<script>x" not in everything
    assert client.get(SIGN_INS, {"from": "yesterday"}).status_code == 200  # the error, shown


def test_security_edits_the_mapping_and_auditors_only_read_it(as_user, security, auditor, target):
    url = f"{LIST}mappings/callcenter/"
    fields = {
        "time_column": "日時",
        "login_id_column": "ID",
        "result_column": "結果",
        "source_host_column": "",
        "source_address_column": "",
        "time_format": "%Y/%m/%d %H:%M:%S",
        "time_zone": "Asia/Tokyo",
        "success_values": "成功",
        "failure_values": "失敗",
    }
    assert as_user(auditor).post(url, fields).status_code == 403
    assert not AccessLogMapping.objects.exists()
    response = as_user(security).post(url, fields)
    assert response.status_code == 302
    mapping = AccessLogMapping.objects.get()
    assert (mapping.time_column, mapping.updated_by) == ("日時", security)
    assert AuditEvent.objects.filter(action="access_log.mapping_updated").count() == 1
    shown = as_user(auditor).get(url).content.decode()
    assert "日時" in shown and "disabled" in shown


@pytest.mark.parametrize("zone", ["Mars/Olympus", ""])
def test_a_bad_time_zone_is_refused_on_its_field(as_user, security, target, zone):
    response = as_user(security).post(
        f"{LIST}mappings/callcenter/",
        {
            "time_column": "t",
            "login_id_column": "u",
            "result_column": "r",
            "time_zone": zone,
            "success_values": "ok",
            "failure_values": "ng",
        },
    )
    assert response.status_code == 200
    assert not AccessLogMapping.objects.exists()


def test_the_csv_download_keeps_formula_prefixed_fields_as_text(as_user, auditor, target):
    ingest(
        target,
        HEADER
        + '2026-11-20T10:00:00,"=HYPERLINK(""http://x"")",success,@evil,\n'
        + "2026-11-20T10:01:00,+nw1,failure,-host,\n",
    )
    response = as_user(auditor).get(SIGN_INS, {"download": "csv", "target": "callcenter"})
    assert response["Content-Type"].startswith("text/csv")
    import csv
    import io

    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    cells = [cell for row in rows[1:] for cell in row]
    assert '\'=hyperlink("http://x")' in cells and "'@evil" in cells
    assert "'+nw1" in cells and "'-host" in cells
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
