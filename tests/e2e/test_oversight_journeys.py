"""The oversight journeys of issues #11 and #12 in a browser, on the demo data alone (`seed_demo`,
as a newcomer has it), in Japanese (the browser asks for it): security uploads the demo's sample
access log and opens a finding of its analysis with the log line; an auditor produces an
internal audit report, its printable view and a CSV file; security records a contractor's
yearly report and an operator's training, and the counter refuses a terminal to an operator
with no training, saying why; one security officer proposes an arrangement, a second approves
it, and the dashboard lists it among those ending within 30 days."""

import csv
import datetime
import io
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Page, expect

from compliance.access_log_rules import access_log_analyse
from compliance.models import (
    AccessLogIngestion,
    AuditReport,
    AuditReportStatus,
    Discrepancy,
    DiscrepancyKind,
    IngestionStatus,
    SignInEvent,
)
from core.models import Organization, User
from lending import services
from lending.models import (
    Arrangement,
    ArrangementStatus,
    ContractorReport,
    Loan,
    OperatorTraining,
    ReportOutcome,
)
from portal.management.commands.seed_demo import ARRANGEMENT_TITLE, USERS
from terminals.models import Location
from tests.e2e.conftest import follow_menu, pass_second_factor

SAMPLE_LOG = Path(settings.BASE_DIR) / "portal" / "demo" / "callcenter-access-log.csv"
DEMO_PASSWORDS = {username: password for username, password, _role, _org in USERS}
SITE = "本店"
T = {
    "log_in": "ログイン",
    # The grouped menu
    "access_logs": "アクセスログ",
    "discrepancies": "差異",
    "audit_reports": "内部監査報告書",
    "supervision": "委託先の監督",
    "arrangements": "暫定運用",
    # Access logs
    "upload": "アップロード",
    "received": "ログを受け付けました。取込はバックグラウンドで行われます。",
    "done": "完了",
    "found_by_analysis": "アクセスログ解析",
    "line_of": "callcenter-access-log.csv の {line} 行目",
    # The internal audit report
    "produce": "報告書を作成する",
    "printable": "印刷用表示",
    "print": "印刷",
    "report": "内部監査報告書",
    "download_csv": "CSV をダウンロード",
    # Supervision
    "submit_report": "報告書を提出",
    "save": "保存",
    "report_submitted": "報告書を提出しました。審査をお待ちください。",
    "accept": "承認",
    "record_review": "審査結果を記録",
    "report_accepted": "報告書を承認しました。",
    "record_training": "研修を記録",
    "training_recorded": "研修を記録しました。",
    "checkout": "貸出",
    "hand_out": "貸出",
    "refused": "貸出不可",
    "no_training": "{name} の研修受講記録がありません。",
    # Arrangements
    "propose_arrangement": "暫定運用を申請",
    "propose": "申請",
    "proposed": "暫定運用を申請しました。別の情報セキュリティ管理者の承認が必要です。",
    "to_approve": "承認待ちの暫定運用",
    "approve": "承認",
    "approved": "暫定運用を承認しました。",
    "ending_soon": "30日以内に終了する暫定運用",
}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    """A browser set up for Japanese, as at the operator's desks."""
    return {**browser_context_args, "locale": "ja-JP"}


@pytest.fixture
def demo(transactional_db, django_capture_on_commit_callbacks):
    """The demo data as `manage.py seed_demo` leaves it (the accounts' first rotations run here:
    tasks are eager in tests)."""
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", stdout=io.StringIO())
    return SimpleNamespace(
        site=Location.objects.get(kind=Location.Kind.SITE, name=SITE),
        **{username: User.objects.get(username=username) for username in DEMO_PASSWORDS},
    )


@pytest.fixture
def patient_expect():
    # An audit report is produced while the request waits (tasks are eager): give it time.
    expect.set_options(timeout=15_000)
    yield
    expect.set_options(timeout=5_000)


def log_in(page: Page, url: str, username: str) -> None:
    """From the login page, with the demo login; the dashboard opens, in Japanese."""
    page.context.clear_cookies()
    page.goto(url + "/login/")
    page.locator("[name=username]").fill(username)
    page.locator("[name=password]").fill(DEMO_PASSWORDS[username])
    page.locator("main").get_by_role("button", name=T["log_in"]).click()
    pass_second_factor(page, username)
    expect(page).to_have_url(url + "/")
    expect(page.locator("html")).to_have_attribute("lang", "ja")


def messages(page: Page):
    return page.locator(".messages")


def local_day(days: int = 0) -> str:
    return (timezone.localdate() + datetime.timedelta(days=days)).isoformat()


def local_minute(days: int) -> str:
    """A datetime-local field's value, `days` from now in Asia/Tokyo."""
    moment = timezone.localtime() + datetime.timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M")


# The journeys ----------------------------------------------------------------------------------


@pytest.mark.e2e
def test_security_uploads_the_sample_log_and_opens_a_finding_with_its_line(
    live_server, page: Page, demo
):
    log_in(page, live_server.url, "security")
    follow_menu(page, T["access_logs"])
    expect(page).to_have_url(re.compile(r"/terminals/access-logs/$"))
    page.locator("[name=target]").select_option("callcenter")
    page.locator("[name=format]").select_option("csv")
    page.locator("[name=file]").set_input_files(SAMPLE_LOG)
    page.locator("main form").get_by_role("button", name=T["upload"]).click()

    # The ingestion's page refreshes itself until the worker is done (tasks run at once, in
    # process, in these tests), then shows the counts.
    expect(page).to_have_url(re.compile(r"/terminals/access-logs/\d+/$"))
    expect(messages(page)).to_have_text(T["received"])
    expect(page.locator(".ingestion-status")).to_have_text(T["done"])
    expect(page.locator(".lines-read")).to_have_text("4")  # the header and three sign-ins
    expect(page.locator(".accepted")).to_have_text("3")
    expect(page.locator(".duplicates")).to_have_text("0")
    expect(page.locator(".malformed")).to_have_text("0")
    ingestion = AccessLogIngestion.objects.get()
    assert (ingestion.status, ingestion.created_by) == (IngestionStatus.DONE, demo.security)

    # The scheduled analysis (beat runs it), run now: the sample's login IDs were never issued.
    assert access_log_analyse().findings == 3
    first = SignInEvent.objects.get(ingestion=ingestion, line_number=2)

    follow_menu(page, T["discrepancies"])
    page.locator("table.discrepancies").get_by_role(
        "link", name=f"sign-in:{first.pk}", exact=True
    ).click()
    finding = Discrepancy.objects.get(sign_in=first)
    assert finding.kind == DiscrepancyKind.SIGN_IN_UNKNOWN_LOGIN_ID
    expect(page).to_have_url(re.compile(rf"/discrepancies/{finding.pk}/$"))
    main = page.locator("main")
    expect(main).to_contain_text(T["found_by_analysis"])
    expect(main).to_contain_text(T["line_of"].format(line=2))
    expect(page.locator("pre.log-line")).to_have_text(
        "2026/11/16 08:52:10,nwrt7k2m9q,成功,mepc-0412,10.20.31.45"
    )


@pytest.mark.e2e
def test_an_auditor_produces_an_internal_audit_report_prints_it_and_downloads_a_csv(
    live_server, page: Page, demo, patient_expect
):
    log_in(page, live_server.url, "auditor")
    follow_menu(page, T["audit_reports"])
    expect(page).to_have_url(re.compile(r"/terminals/audit-reports/$"))
    start, end = local_day(-7), local_day()
    page.locator("[name=period_start]").fill(start)
    page.locator("[name=period_end]").fill(end)
    page.get_by_role("button", name=T["produce"]).click()

    # The report page refreshes itself while the worker produces it (here, at once); then it
    # can be printed.
    expect(page).to_have_url(re.compile(r"/terminals/audit-reports/\d+/$"))
    printable = page.get_by_role("link", name=T["printable"])
    expect(printable).to_be_visible()
    report = AuditReport.objects.get()
    assert report.status == AuditReportStatus.READY
    assert (report.produced_by, report.period_start.isoformat()) == (demo.auditor, start)
    assert report.digest

    # One section's CSV, exactly as stored and hashed.
    terminals = page.locator("section#section-terminals")
    with page.expect_download() as download:
        terminals.get_by_role("link", name=T["download_csv"]).click()
    content = Path(download.value.path()).read_bytes()
    assert content == report.sections.get(name="terminals").csv.encode("utf-8")
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert {row["asset_tag"] for row in rows} >= {"NW-0001", "NW-0030"}

    printable.click()
    expect(page).to_have_url(re.compile(rf"/terminals/audit-reports/{report.pk}/print/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(T["report"])
    expect(page.get_by_role("button", name=T["print"])).to_be_visible()
    expect(page.locator("section#section-terminals")).to_contain_text("NW-0001")


@pytest.mark.e2e
def test_security_records_supervision_and_the_counter_refuses_an_untrained_operator(
    live_server, page: Page, demo
):
    hokushin = Organization.objects.get(code="hokushin-tech")
    declaration = services.declaration_declare(
        actor=demo.security, title="令和8年 台風15号", sites=[demo.site]
    )
    request = services.access_request_approve(
        request=services.access_request_submit(
            actor=demo.contractor,
            declaration=declaration,
            work_site="千葉県館山市 配電復旧現場",
            quantity=1,
            operators=["山田 太郎"],
            purpose="停電復旧作業の顧客対応",
            needed_until=timezone.now() + datetime.timedelta(days=2),
        ),
        actor=demo.approver,
    )

    # Security records the yearly report 北辰テクノサービス sent in, and accepts it.
    log_in(page, live_server.url, "security")
    follow_menu(page, T["supervision"])
    page.locator("main").get_by_role("link", name=hokushin.name).click()
    expect(page).to_have_url(re.compile(r"/lending/supervision/hokushin-tech/$"))
    page.get_by_role("link", name=T["submit_report"]).click()
    page.locator("[name=period_start]").fill(local_day(-10))
    page.locator("[name=period_end]").fill(local_day(355))
    for radio in page.locator('input[type=radio][value="yes"]').all():
        radio.check()
    page.locator("main form").get_by_role("button", name=T["save"]).click()
    expect(messages(page)).to_have_text(T["report_submitted"])
    review = page.locator("form.review-form")
    review.get_by_label(T["accept"], exact=True).check()
    review.get_by_role("button", name=T["record_review"]).click()
    expect(messages(page)).to_have_text(T["report_accepted"])

    # ... and the training of one of its operators, with the undertaking signed.
    page.get_by_role("link", name=T["record_training"]).click()
    page.locator("[name=operator_name]").fill("伊藤 四郎")
    page.locator("[name=course]").fill("情報セキュリティ・個人情報保護研修")
    page.locator("[name=completed_on]").fill(local_day(-3))
    page.locator("[name=expires_on]").fill(local_day(362))
    page.locator("[name=undertaking_signed_on]").fill(local_day(-3))
    page.locator("main form").get_by_role("button", name=T["save"]).click()
    expect(messages(page)).to_have_text(T["training_recorded"])
    expect(page.locator("main")).to_contain_text("伊藤 四郎")

    report = ContractorReport.objects.get(contractor=hokushin)
    assert (report.outcome, report.reviewed_by) == (ReportOutcome.ACCEPTED, demo.security)
    training = OperatorTraining.objects.get(contractor=hokushin, operator_name="伊藤 四郎")
    assert training.undertaking_signed_on == timezone.localdate() - datetime.timedelta(days=3)

    # At the counter, a terminal for someone with no training on record is refused, saying why.
    log_in(page, live_server.url, "facilities")
    follow_menu(page, T["checkout"])
    row = page.locator("main tr").filter(has=page.get_by_role("link", name=f"#{request.pk}"))
    row.get_by_role("link", name=T["hand_out"], exact=True).click()
    expect(page).to_have_url(re.compile(rf"/lending/checkout/\?request={request.pk}$"))
    page.locator("[name=operator_name]").fill("渡辺 五郎")
    page.locator("details:has([name=operator_reason]) > summary").click()
    page.locator("[name=operator_reason]").fill("山田 太郎が体調不良のため交代")
    page.locator("[name=acknowledged_name]").fill("渡辺 五郎")
    page.locator("[name=tag]").fill("nw-0003")
    page.locator("[name=tag]").press("Enter")
    refused = page.locator(".scan-result.refused")
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text(T["refused"])
    expect(refused).to_contain_text(T["no_training"].format(name="渡辺 五郎"))
    assert not Loan.objects.filter(request=request).exists()


@pytest.mark.e2e
def test_one_officer_proposes_an_arrangement_and_a_second_approves_it(
    live_server, page: Page, demo
):
    title = "系統切替工事の暫定運用"
    log_in(page, live_server.url, "security")
    follow_menu(page, T["arrangements"])
    expect(page).to_have_url(re.compile(r"/lending/arrangements/$"))
    expect(page.locator("main")).to_contain_text(ARRANGEMENT_TITLE)  # the demo's, proposed
    page.get_by_role("link", name=T["propose_arrangement"]).click()
    page.locator("[name=title]").fill(title)
    page.locator("[name=reason]").fill("切替工事の期間中、関東電設工業が設定端末を使用する。")
    page.get_by_label("関東電設工業株式会社 (kanto-densetsu)", exact=True).check()
    page.get_by_label("NW-0010", exact=True).check()
    page.locator("[name=starts_at]").fill(local_minute(0))
    page.locator("[name=ends_at]").fill(local_minute(20))
    page.locator("main form").get_by_role("button", name=T["propose"], exact=True).click()
    expect(messages(page)).to_have_text(T["proposed"])
    arrangement = Arrangement.objects.get(title=title)
    expect(page).to_have_url(re.compile(rf"/lending/arrangements/{arrangement.pk}/$"))

    # The second officer finds it (and the demo's) waiting for them, and approves it.
    log_in(page, live_server.url, "security2")
    panel = page.locator('section[aria-labelledby=waiting] .panel[data-panel="arrangements"]')
    expect(panel.get_by_role("heading", level=3)).to_have_text(T["to_approve"])
    expect(panel.locator(".panel-count")).to_have_text("2")
    panel.locator(".panel-link").click()
    expect(page).to_have_url(re.compile(r"/lending/arrangements/$"))
    page.get_by_role("link", name=title).click()
    page.locator("main").get_by_role("button", name=T["approve"], exact=True).click()
    form = page.locator("form.confirmation")
    expect(form.locator(".confirm-effects")).to_be_visible()
    form.locator('button[type="submit"]').click()
    expect(messages(page)).to_have_text(T["approved"])

    arrangement.refresh_from_db()
    assert arrangement.status == ArrangementStatus.ACTIVE
    assert (arrangement.proposed_by, arrangement.decided_by) == (demo.security, demo.security2)
    assert arrangement.declaration is not None

    page.locator("header .brand").click()
    ending = page.locator('section[data-panel="arrangements-ending"]')
    expect(ending.get_by_role("heading", level=2)).to_have_text(T["ending_soon"])
    expect(ending.get_by_role("link", name=title)).to_be_visible()
    expect(ending).not_to_contain_text(ARRANGEMENT_TITLE)  # still a proposal
