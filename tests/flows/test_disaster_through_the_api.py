"""The whole lending journey through the API, from declaration to close report."""

import csv
import datetime
import io

from django.utils import timezone

from core.models import AuditEvent
from credentials.models import Account, AccountState, SecretVersion
from credentials.secrets import secret_plaintext
from lending import services
from terminals.models import AccessCard, Terminal
from tests.factories import make_training
from tests.support.db import nothing_written


def test_a_disaster_from_declaration_to_close_report(
    client_for,
    security,
    contractor,
    approver,
    facilities,
    terminals,
    card,
    django_capture_on_commit_callbacks,
):
    as_security, as_contractor = client_for(security), client_for(contractor)
    as_approver, as_facilities = client_for(approver), client_for(facilities)

    # Security declares; the contractor sees the active declaration.
    declared = as_security.post(
        "/api/v1/declarations/", {"title": "台風10号", "sites": ["hq"]}, format="json"
    )
    assert declared.status_code == 201, declared.content
    declaration_id = declared.json()["id"]
    listed = as_contractor.get("/api/v1/declarations/").json()["results"]
    assert [d["id"] for d in listed] == [declaration_id]

    # The contractor submits; facilities approve.
    submitted = as_contractor.post(
        "/api/v1/access-requests/",
        {
            "declaration": declaration_id,
            "work_site": "千葉県館山市 配電復旧現場",
            "quantity": 2,
            "operators": ["山田 太郎", "佐藤 花子"],
            "purpose": "停電復旧作業の顧客対応",
            "needed_until": (timezone.now() + datetime.timedelta(days=3)).isoformat(),
        },
        format="json",
    )
    assert submitted.status_code == 201, submitted.content
    assert submitted.json()["status"] == "submitted"
    request_id = submitted.json()["id"]
    approved = as_approver.post(f"/api/v1/access-requests/{request_id}/approve/")
    assert approved.status_code == 200, approved.content
    assert approved.json()["decided_by"] == "aki"

    # Another facilities user hands out two terminals; the first goes with its card.
    loan_ids = []
    for terminal in terminals[:2]:
        handed = as_facilities.post(
            "/api/v1/loans/",
            {
                "request": request_id,
                "terminal": terminal.asset_tag,
                "operator_name": "山田 太郎",
                "acknowledged_name": "山田 太郎",
            },
            format="json",
        )
        assert handed.status_code == 201, handed.content
        assert handed.json()["status"] == "open"
        loan_ids.append(handed.json()["id"])
    first = as_contractor.get(f"/api/v1/loans/{loan_ids[0]}/").json()
    assert first["cards"] == ["IC-000001"]
    assert [a["target_system"] for a in first["accounts"]] == ["callcenter", "nol"]
    assert not any(a["revealed"] for a in first["accounts"])
    assert "password" not in str(first)
    assert Terminal.objects.filter(status=Terminal.Status.LENT).count() == 2
    assert not Account.objects.filter(
        terminal__in=terminals[:2], state=AccountState.LOCKED
    ).exists()

    # The contractor reveals each loan's credentials once, unseen by any cache.
    revealed = as_contractor.post(f"/api/v1/loans/{loan_ids[0]}/reveal/")
    assert revealed.status_code == 200, revealed.content
    assert revealed["Cache-Control"] == "no-store"
    expected = [
        {
            "target_system": account.target_system.code,
            "login_id": account.login_id,
            "password": secret_plaintext(account.current_version),
        }
        for account in terminals[0].accounts.order_by("target_system__code")
    ]
    assert sorted(revealed.json(), key=lambda a: a["target_system"]) == expected
    with nothing_written(SecretVersion):
        again = as_contractor.post(f"/api/v1/loans/{loan_ids[0]}/reveal/")
    assert again.status_code == 410
    assert "security officer" in again.json()["detail"]
    assert "password" not in again.json()
    assert AuditEvent.objects.filter(action="secret.revealed").count() == 2

    # Facilities receive both back; the return rotates every account at once.
    for loan_id in loan_ids:
        with django_capture_on_commit_callbacks(execute=True):
            returned = as_facilities.post(
                f"/api/v1/loans/{loan_id}/return/",
                {
                    "condition": "ok",
                    "cards_returned": ["IC-000001"] if loan_id == loan_ids[0] else [],
                    "return_location": "hq-cab-1",
                    "handed_back_by": "山田 太郎",
                    "operator_signature": "山田 太郎",
                    "data_disposition": "destroyed",
                },
                format="json",
            )
        assert returned.status_code == 200, returned.content
        assert returned.json()["status"] == "returned"
        assert returned.json()["return_confirmation"]["received_by"] == "fiona"
    old_login_ids = {row["login_id"] for row in expected}
    rotated = Account.objects.filter(terminal__in=terminals[:2])
    assert not old_login_ids & set(rotated.values_list("login_id", flat=True))
    assert set(rotated.values_list("state", flat=True)) == {AccountState.LOCKED}
    assert services.returned_terminals_settle() == 2
    assert Terminal.objects.filter(status=Terminal.Status.IN_STORAGE).count() == 3
    assert AccessCard.objects.get(card_number="IC-000001").status == AccessCard.Status.IN_STORAGE

    # Security lifts and closes the declaration, then reads the close report.
    lifted = as_security.post(f"/api/v1/declarations/{declaration_id}/lift/")
    assert (lifted.status_code, lifted.json()["status"]) == (200, "lifted")
    closed = as_security.post(f"/api/v1/declarations/{declaration_id}/close/")
    assert closed.status_code == 200, closed.content
    assert closed.json()["status"] == "closed"
    assert closed.json()["closed_by"] == "sam"

    report = as_security.get(f"/api/v1/declarations/{declaration_id}/report/")
    assert report.status_code == 200
    rows = report.json()
    assert [row["terminal"] for row in rows] == ["NW-00001", "NW-00002"]
    assert {row["approved_by"] for row in rows} == {"aki"}
    assert {row["handed_out_by"] for row in rows} == {"fiona"}
    assert all(row["rotated_at"] and row["returned_at"] for row in rows)

    exported = as_security.get(f"/api/v1/declarations/{declaration_id}/report.csv")
    assert exported.status_code == 200
    assert exported["Content-Type"].startswith("text/csv")
    assert "attachment" in exported["Content-Disposition"]
    assert exported.content.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert table[0][:2] == ["loan", "terminal"]
    assert [line[1] for line in table[1:]] == ["NW-00001", "NW-00002"]
    assert {line[2] for line in table[1:]} == {"関東電工"}


def test_the_close_report_is_csv_also_by_query_parameter_and_headed_in_japanese(
    client_for, security, declaration
):
    client = client_for(security)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "ja"

    exported = client.get(f"/api/v1/declarations/{declaration.pk}/report/", {"format": "csv"})

    assert exported.status_code == 200
    header = next(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert header[1] == "端末"
    assert "状態" in header


def test_a_contractor_may_not_read_the_close_report_of_every_contractor(
    client_for, contractor, declaration
):
    client = client_for(contractor)

    assert client.get(f"/api/v1/declarations/{declaration.pk}/").status_code == 200
    assert client.get(f"/api/v1/declarations/{declaration.pk}/report/").status_code == 403
    assert client.get(f"/api/v1/declarations/{declaration.pk}/report.csv").status_code == 403


def test_a_name_that_a_spreadsheet_would_run_as_a_formula_is_exported_as_text(
    client_for, security, facilities, approved, terminals
):
    make_training(approved.contractor, '=HYPERLINK("http://example.com","山田")')
    services.loan_checkout(
        request=approved,
        terminal=terminals[0],
        actor=facilities,
        # Added by staff, with a reason: a name typed by a person, as every name in the report.
        operator_name='=HYPERLINK("http://example.com","山田")',
        operator_reason="交代要員",
        acknowledged_name='=HYPERLINK("http://example.com","山田")',
    )

    exported = client_for(security).get(
        f"/api/v1/declarations/{approved.declaration_id}/report.csv"
    )

    (header, row) = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert (
        row[header.index("operator who received it")] == '\'=HYPERLINK("http://example.com","山田")'
    )
