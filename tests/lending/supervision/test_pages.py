"""The supervision pages, in both languages: security sees every contractor and acts on each;
a contractor's users see their own records and submit their yearly report."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext, pgettext

from core.models import AuditEvent
from lending import supervision
from lending.models import ContractorReport, OperatorTraining, ReportOutcome, SupervisionException
from tests.lending.supervision.conftest import accepted_report, days, training
from tests.support.db import nothing_written


@pytest.fixture
def page_as(client):
    def sign_in(user, lang="en"):
        client.cookies["django_language"] = lang
        client.force_login(user)
        return client

    return sign_in


def _badge(html: str, state: str) -> bool:
    return bool(re.search(rf'class="badge sv-{state}\b', html))


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_security_sees_every_contractor_with_the_state_of_its_report(
    page_as, security, firm, contractor_org, lang
):
    html = page_as(security, lang).get(reverse("lending:supervisions")).content.decode()
    assert f'<html lang="{lang}"' in html
    rows = {
        name: row
        for row in html.split("<tr>")[1:]
        for name in ("港工事", "関東電工")
        if name in row
    }
    assert _badge(rows["港工事"], "missing") and _badge(rows["関東電工"], "current")
    with translation.override(lang):
        assert pgettext("supervision status", "Missing") in rows["港工事"]
        assert gettext("Contractor supervision") in html


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_the_contractor_page_shows_reports_trainings_audits_and_exceptions(
    page_as, security, firm, declaration, lang
):
    accepted_report(firm, security, end=10)
    training(firm, security, "山田 太郎")
    training(firm, security, "佐藤 花子", expires=-3)
    training(firm, security, "田中 三郎", signed=False)
    supervision.contractor_audit_record(
        actor=security, contractor=firm, audited_on=days(-1), finding="保管庫が無施錠"
    )
    supervision.supervision_exception_grant(
        actor=security,
        declaration=declaration,
        contractor=firm,
        operator_name="佐藤 花子",
        reason="研修は来週",
        hours=6,
    )
    html = page_as(security, lang).get(reverse("lending:supervision", args=[firm.code]))
    html = html.content.decode()
    assert _badge(html, "expiring")  # the report ends in 10 days
    operators = {
        name: row for row in html.split('class="training-row"')[1:] for name in
        ("山田 太郎", "佐藤 花子", "田中 三郎") if f'data-operator="{name}"' in row
    }  # fmt: skip
    assert _badge(operators["山田 太郎"], "current")
    assert _badge(operators["佐藤 花子"], "expired")
    assert _badge(operators["田中 三郎"], "missing")
    assert "保管庫が無施錠" in html and "研修は来週" in html
    # Security may grant an exception: a declaration is active.
    assert reverse("lending:supervision-exception-create", args=[firm.code]) in html


def test_a_contractors_user_is_sent_to_their_own_page_and_cannot_open_another(
    page_as, firm_user, firm, contractor_org
):
    client = page_as(firm_user)
    response = client.get(reverse("lending:supervisions"))
    assert response.status_code == 302
    assert response["Location"] == reverse("lending:supervision", args=[firm.code])
    page = client.get(response["Location"]).content.decode()
    assert reverse("lending:supervision-report-create", args=[firm.code]) in page
    assert reverse("lending:supervision-training-create", args=[firm.code]) not in page
    other = client.get(reverse("lending:supervision", args=[contractor_org.code]))
    assert other.status_code == 404


def test_the_contractor_submits_the_report_and_security_accepts_it_on_the_page(
    page_as, firm_user, security, firm
):
    answers = {f"answer_{code}": "yes" for code, _q in supervision.CHECKLIST}
    response = page_as(firm_user).post(
        reverse("lending:supervision-report-create", args=[firm.code]),
        {
            "period_start": days(0).isoformat(),
            "period_end": days(364).isoformat(),
            "file": SimpleUploadedFile("報告書.pdf", b"%PDF-1.4\n"),
            **answers,
        },
    )
    assert response.status_code == 302
    report = ContractorReport.objects.get(contractor=firm)
    assert report.outcome == ReportOutcome.PENDING and report.file

    client = page_as(security)
    page = client.get(reverse("lending:supervision", args=[firm.code])).content.decode()
    assert reverse("lending:supervision-report-review", args=[report.pk]) in page
    download = client.get(reverse("lending:supervision-report-file", args=[report.pk]))
    assert b"".join(download.streaming_content) == b"%PDF-1.4\n"
    client.post(
        reverse("lending:supervision-report-review", args=[report.pk]), {"decision": "accept"}
    )
    report.refresh_from_db()
    assert (report.outcome, report.reviewed_by) == (ReportOutcome.ACCEPTED, security)


def test_a_report_with_unanswered_questions_is_shown_again_with_the_error(page_as, firm_user, firm):
    with nothing_written():
        response = page_as(firm_user).post(
            reverse("lending:supervision-report-create", args=[firm.code]),
            {"period_start": days(0).isoformat(), "period_end": days(364).isoformat()},
        )
    assert response.status_code == 200
    assert "Answer every question of the checklist with yes or no." in response.content.decode()


def test_a_rejection_without_a_note_is_refused_on_the_page(page_as, firm_user, security, firm):
    report = supervision.contractor_report_submit(
        actor=firm_user,
        contractor=firm,
        period_start=days(0),
        period_end=days(300),
        answers={code: "yes" for code, _q in supervision.CHECKLIST},
    )
    with nothing_written(report):
        response = page_as(security).post(
            reverse("lending:supervision-report-review", args=[report.pk]), {"decision": "reject"}
        )
    assert response.status_code == 400
    assert "Say why the report is rejected." in response.content.decode()


def test_security_records_a_training_an_undertaking_an_audit_and_an_exception(
    page_as, security, firm, declaration
):
    client = page_as(security)
    client.post(
        reverse("lending:supervision-training-create", args=[firm.code]),
        {
            "operator_name": "港 一郎",
            "course": "情報セキュリティ研修",
            "completed_on": days(-1).isoformat(),
            "expires_on": days(364).isoformat(),
        },
    )
    record = OperatorTraining.objects.get(contractor=firm)
    client.post(
        reverse("lending:supervision-training-undertaking", args=[record.pk]),
        {"signed_on": days(0).isoformat()},
    )
    assert supervision.training_is_current(contractor=firm, operator_name="港 一郎")
    client.post(
        reverse("lending:supervision-audit-create", args=[firm.code]),
        {"audited_on": days(-3).isoformat(), "finding": "問題なし"},
    )
    client.post(
        reverse("lending:supervision-exception-create", args=[firm.code]),
        {"declaration": declaration.pk, "reason": "報告書は郵送中", "hours": 8},
    )
    exception = SupervisionException.objects.get(contractor=firm)
    assert (exception.granted_by, exception.operator_name) == (security, "")
    assert list(
        AuditEvent.objects.filter(
            action__in=[
                "operator_training.recorded",
                "operator_training.undertaking_signed",
                "contractor_audit.recorded",
                "supervision_exception.granted",
            ]
        ).values_list("action", flat=True)
    ) == [
        "operator_training.recorded",
        "operator_training.undertaking_signed",
        "contractor_audit.recorded",
        "supervision_exception.granted",
    ]


def test_an_exception_of_more_than_the_maximum_is_refused_on_the_form(
    page_as, security, firm, declaration
):
    with nothing_written():
        response = page_as(security).post(
            reverse("lending:supervision-exception-create", args=[firm.code]),
            {"declaration": declaration.pk, "reason": "x", "hours": 100},
        )
    assert response.status_code == 200
    assert "72" in response.content.decode()


def test_the_counter_shows_what_supervision_refuses_before_the_first_scan(
    page_as, facilities, approved, firm
):
    ContractorReport.objects.filter(contractor=firm).delete()
    html = (
        page_as(facilities)
        .get(reverse("lending:checkout") + f"?request={approved.pk}")
        .content.decode()
    )
    box = html.split('class="warning-box supervision-refusals"')[1].split("</div>")[0]
    assert "港工事 has no accepted yearly security report covering today." in box
    assert reverse("lending:supervision", args=[firm.code]) in box
    # Facilities see the records; granting an exception is security's.
    assert reverse("lending:supervision-exception-create", args=[firm.code]) not in box


def test_the_counter_shows_the_refusal_of_a_scan_like_the_others(
    page_as, facilities, approved, terminal, firm
):
    ContractorReport.objects.filter(contractor=firm).delete()
    html = (
        page_as(facilities)
        .post(
            reverse("lending:checkout"),
            {
                "request": approved.pk,
                "operator_name": "山田 太郎",
                "acknowledged_name": "山田 太郎",
                "tag": terminal.asset_tag,
            },
        )
        .content.decode()
    )
    assert "Terminal NW-00001 cannot be handed out." in html
    assert html.count("港工事 has no accepted yearly security report covering today.") >= 2


@pytest.mark.parametrize("persona", ["security", "firm_user", "auditor"])
def test_the_menu_links_the_supervision(page_as, request, persona, firm):
    user = request.getfixturevalue(persona)
    html = page_as(user).get(reverse("dashboard")).content.decode()
    assert f'href="{reverse("lending:supervisions")}"' in html
