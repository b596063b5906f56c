"""The report's pages: who may produce and read it, the form's refusals, the page while it is
produced, the printable view in Japanese, and the CSV files as they were hashed."""

import hashlib

import pytest
from django.urls import reverse

from compliance.models import AuditReport, AuditReportSection, AuditReportStatus
from tests.compliance.audit_reports.conftest import PRODUCED_AT, travel


@pytest.fixture
def as_user(client, settings):
    def sign_in(user, lang: str = "en"):
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = lang
        client.force_login(user)
        return client

    return sign_in


def post_period(client, start, end):
    with travel(PRODUCED_AT):
        return client.post(
            reverse("compliance:audit_report_list"),
            {"period_start": start, "period_end": end},
        )


@pytest.fixture
def report(journey, auditor, as_user, django_capture_on_commit_callbacks) -> AuditReport:
    with django_capture_on_commit_callbacks(execute=True):
        response = post_period(as_user(auditor), "2026-11-10", "2026-11-12")
    assert response.status_code == 302
    report = AuditReport.objects.get()
    assert response["Location"] == reverse("compliance:audit_report_detail", args=[report.pk])
    assert report.status == AuditReportStatus.READY
    return report


@pytest.mark.parametrize("role", ["auditor", "security"])
def test_auditors_and_security_produce_and_read_reports(
    request, role, journey, as_user, django_capture_on_commit_callbacks
):
    user = request.getfixturevalue(role)
    client = as_user(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_period(client, "2026-11-10", "2026-11-12")
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "Loans and their timeline" in page
    assert "NW-00001" in page
    assert "Unchanged since produced." in page


@pytest.mark.parametrize("role", ["facilities", "contractor"])
def test_facilities_and_contractors_are_refused(request, role, as_user):
    client = as_user(request.getfixturevalue(role))
    assert client.get(reverse("compliance:audit_report_list")).status_code == 403
    assert post_period(client, "2026-11-10", "2026-11-12").status_code == 403
    assert not AuditReport.objects.exists()


def test_facilities_cannot_read_a_report_nor_its_csv(report, facilities, as_user):
    client = as_user(facilities)
    assert (
        client.get(reverse("compliance:audit_report_detail", args=[report.pk])).status_code == 403
    )
    csv_url = reverse("compliance:audit_report_csv", args=[report.pk, "loans"])
    assert client.get(csv_url).status_code == 403


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-11-12", "2026-11-10", "The last day comes before the first day."),
        ("2026-11-21", "2026-11-22", "The period starts in the future."),
        ("2025-01-01", "2026-11-01", "A report covers at most 400 days."),
        ("2026-11-31", "2026-11-12", "Enter a valid date."),
    ],
)
def test_a_bad_period_shows_on_the_form(security, as_user, start, end, message):
    response = post_period(as_user(security), start, end)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not AuditReport.objects.exists()


def test_the_page_refreshes_itself_while_the_report_is_produced(
    journey, security, as_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):  # no worker has taken it yet
        response = post_period(as_user(security), "2026-11-10", "2026-11-12")
    page = as_user(security).get(response["Location"]).content.decode()
    assert '<meta http-equiv="refresh"' in page
    assert "The report is being produced." in page


def test_a_ready_report_does_not_refresh(report, auditor, as_user):
    page = as_user(auditor).get(reverse("compliance:audit_report_detail", args=[report.pk]))
    assert 'http-equiv="refresh"' not in page.content.decode()


def test_each_csv_download_is_the_file_whose_digest_was_recorded(report, auditor, as_user):
    client = as_user(auditor)
    for section in report.sections.all():
        response = client.get(
            reverse("compliance:audit_report_csv", args=[report.pk, section.name])
        )
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response.content.startswith("\ufeff".encode())  # Excel reads it as UTF-8
        assert hashlib.sha256(response.content).hexdigest() == section.sha256
    missing = reverse("compliance:audit_report_csv", args=[report.pk, "passwords"])
    assert client.get(missing).status_code == 404


def test_a_formula_typed_by_a_person_is_kept_as_text_in_the_csv(
    report, journey, auditor, as_user, django_capture_on_commit_callbacks
):
    # The operator's name is typed at the counter: a formula there must not run in Excel.
    journey.loan.__class__.objects.filter(pk=journey.loan.pk).update(operator_name="=HYPERLINK(1)")
    with django_capture_on_commit_callbacks(execute=True):
        response = post_period(as_user(auditor), "2026-11-10", "2026-11-12")
    second = AuditReport.objects.get(pk=response["Location"].rstrip("/").split("/")[-1])
    csv_text = second.sections.get(name="loans").csv
    assert ",'=HYPERLINK(1)," in csv_text
    page = as_user(auditor).get(response["Location"]).content.decode()
    assert "<td>=HYPERLINK(1)</td>" in page  # shown as typed


def test_the_printable_view_is_in_japanese_for_a_japanese_reader(report, auditor, as_user):
    response = as_user(auditor, lang="ja").get(
        reverse("compliance:audit_report_print", args=[report.pk])
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="ja">' in page
    assert 'class="report-page"' in page  # the A4 print style
    assert report.digest in page
    assert "2026年11月10日" in page  # dates as Japanese pages write them
    assert "貸与中" in page or "返却済" in page or "保管中" in page  # statuses in words


def test_the_page_warns_when_a_stored_csv_was_edited(report, auditor, as_user):
    loans = report.sections.get(name="loans")
    AuditReportSection.objects.filter(pk=loans.pk).update(csv=loans.csv.replace("fiona", "mallory"))

    page = as_user(auditor).get(reverse("compliance:audit_report_detail", args=[report.pk]))
    text = page.content.decode()
    assert "Warning: this report is not the one that was produced." in text
    assert "Unchanged since produced." not in text


def test_the_audit_menu_links_the_reports(auditor, as_user):
    page = as_user(auditor).get(reverse("compliance:audit_report_list")).content.decode()
    assert f'href="{reverse("compliance:audit_report_list")}" aria-current="page"' in page


def test_what_the_system_wrote_reads_in_the_readers_language(report, auditor, as_user):
    # The file keeps the English words (and the phrase); a Japanese reader reads Japanese.
    movements = report.sections.get(name="terminal_movements").csv
    assert "Rotated and inspected" in movements
    page = as_user(auditor, lang="ja").get(
        reverse("compliance:audit_report_detail", args=[report.pk])
    )
    text = page.content.decode()
    assert "ID・パスワード変更と点検が完了" in text
    assert "Rotated and inspected" not in text
