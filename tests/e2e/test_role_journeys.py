"""One browser journey per role through a day's work with the demo data (issue #9): each starts
from `seed_demo` plus what the other roles would have left (made with the services), logs in on
the login page with the demo login, does the role's daily work as a person would (the dashboard's
"Waiting for you" panels, the grouped menu) and ends by checking the database. In Japanese, from
a browser that asks for Japanese (as at the operator's desks); the contractor's reveal in
English, chosen with the switcher."""

import datetime
import io
import re
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Page, expect

from compliance.models import Discrepancy, DiscrepancyKind, DiscrepancyOutcome, StockTake
from compliance.policy_checks import run_policy_checks
from compliance.services import discrepancy_assign
from core.audit import chain_check, seal_pending
from core.models import AuditEvent, User
from credentials.models import Account, AccountState, Rotation, RotationReason, SecretVersion
from lending import services
from lending.models import (
    AccessRequest,
    Declaration,
    DeclarationStatus,
    Loan,
    LoanStatus,
    RequestStatus,
    ReturnConfirmation,
)
from portal.management.commands.seed_demo import UNSECURED_TAG, USERS
from terminals.models import AccessCard, Location, Terminal
from tests.e2e.conftest import follow_menu, pass_second_factor

DEMO_PASSWORDS = {username: password for username, password, _role, _org in USERS}
TEXT = {
    "ja": {
        "log_in": "ログイン",
        "english": "English",
        # The grouped menu
        "declarations": "災害発令",
        "request_terminals": "端末の貸与申請",
        "return": "返却",
        "audit_trail": "監査ログ",
        # The dashboard's "Waiting for you" and its panels
        "waiting": "あなたの対応待ち",
        "to_approve": "承認待ちの貸与申請",
        "to_hand_out": "貸出待ちの承認済み貸与申請",
        "assigned_findings": "あなたが担当の差異",
        # Lending
        "approve": "承認",
        "approved": "貸与申請 #{id} を承認しました。",
        "hand_out": "貸出",
        "accepted": "貸出完了",
        "one_of_one": "1 台中 1 台",
        "find_loan": "貸与を検索",
        "confirm_return": "返却を確定",
        "received": "端末 {tag} の返却を受け付けました。",
        "declare_disaster": "非常災害体制を発令",
        "declare": "発令する",
        "declared": "非常災害体制を発令しました。",
        "lift": "解除",
        "lift_effect": "未決定の貸与申請 1 件が取消されます。",
        "none_out": "貸与中の端末が 0 台あります。",
        "lifted": "発令を解除しました。",
        "close": "終結",
        "close_effect": "終結報告書は貸与 0 件で確定します。",
        "closed": "発令を終結しました。",
        "report": "終結報告書",
        "submit": "申請する",
        "submitted": "貸与申請 #{id} を送信しました。",
        # Findings
        "fixed": "是正済",
        "note": "メモ",
        "resolve": "解決",
        "resolved": "{subject} を解決しました：是正済。",
        # The audit trail
        "search": "検索",
        "chain_intact": "ハッシュチェーンは正常です: {n} 件を検証しました。",
        "events": "操作履歴 {n} 件",
    },
    "en": {
        "my_loans": "My loans",
        "show_credentials": "Show the login IDs and passwords",
        "your_password": "Your password",
        "show_once": "Show them once",
        "shown_once": "These are shown only this once.",
    },
}
SITE = "本店"
OPERATORS = ["山田 太郎", "佐藤 花子"]


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    """A browser set up for Japanese, as at the operator's desks: pages come in Japanese without
    touching the switcher (the other journeys choose their language with it)."""
    return {**browser_context_args, "locale": "ja-JP"}


def needed_until(days: int = 2) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(days=days)


@pytest.fixture
def demo(transactional_db, django_capture_on_commit_callbacks):
    """The demo data, as `manage.py seed_demo` leaves it: the first rotation of every account
    runs here (tasks are eager in tests), so every stored terminal can be lent."""
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", stdout=io.StringIO())
    return SimpleNamespace(
        site=Location.objects.get(kind=Location.Kind.SITE, name=SITE),
        **{username: User.objects.get(username=username) for username in DEMO_PASSWORDS},
    )


# What the other roles leave behind, made with the services ------------------------------------


def declare(demo, title: str = "令和8年 台風15号") -> Declaration:
    return services.declaration_declare(actor=demo.security, title=title, sites=[demo.site])


def submit(
    demo, declaration: Declaration, operators: list[str], work_site: str, quantity: int = 1
) -> AccessRequest:
    return services.access_request_submit(
        actor=demo.contractor,
        declaration=declaration,
        work_site=work_site,
        quantity=quantity,
        operators=operators,
        purpose="停電復旧作業の顧客対応",
        needed_until=needed_until(),
    )


def approved(demo, declaration: Declaration, operators: list[str], work_site: str):
    request = submit(demo, declaration, operators, work_site)
    return services.access_request_approve(request=request, actor=demo.approver)


def lend(demo, request: AccessRequest, tag: str) -> Loan:
    """Hand out a terminal at the counter, as the facilities user there would have done."""
    return services.loan_checkout(
        request=request,
        terminal=Terminal.objects.get(asset_tag=tag),
        actor=demo.facilities,
        operator_name=request.operators[0],
        acknowledged_name=request.operators[0],
    )


# The browser -----------------------------------------------------------------------------------


def log_in(page: Page, url: str, username: str, t: dict) -> None:
    """From the login page, with the demo login; the dashboard opens."""
    page.goto(url + "/login/")
    page.locator("[name=username]").fill(username)
    page.locator("[name=password]").fill(DEMO_PASSWORDS[username])
    page.locator("main").get_by_role("button", name=t["log_in"]).click()
    pass_second_factor(page, username)
    expect(page).to_have_url(url + "/")
    expect(page.locator("html")).to_have_attribute("lang", "ja")


def waiting_panel(page: Page, key: str, title: str, count: int):
    """A panel of the dashboard's "Waiting for you", with its title and how many wait."""
    section = page.locator("section[aria-labelledby=waiting]")
    expect(section.get_by_role("heading", level=2)).to_have_text(TEXT["ja"]["waiting"])
    panel = section.locator(f'.panel[data-panel="{key}"]')
    expect(panel.get_by_role("heading", level=3)).to_have_text(title)
    expect(panel.locator(".panel-count")).to_have_text(str(count))
    return panel


def confirm(page: Page, *effects: str) -> None:
    """The confirmation page of an irreversible action: it names what it touches; confirm."""
    form = page.locator("form.confirmation")
    for effect in effects:
        expect(form.locator(".confirm-effects")).to_contain_text(effect)
    form.locator('button[type="submit"]').click()


def messages(page: Page):
    return page.locator(".messages")


# The journeys ----------------------------------------------------------------------------------


@pytest.mark.e2e
def test_facilities_hand_out_an_approved_request_and_receive_another_loan_back(
    live_server, page: Page, demo
):
    t = TEXT["ja"]
    declaration = declare(demo)
    request = approved(demo, declaration, OPERATORS, "千葉県館山市 配電復旧現場")
    earlier = approved(demo, declaration, ["鈴木 一郎"], "千葉県南房総市 配電復旧現場")
    out = lend(demo, earlier, "NW-0002")
    out_cards = set(out.cards.values_list("card_number", flat=True))
    assert out_cards, "the demo gives NW-0002 a sign-in card that goes out with it"

    log_in(page, live_server.url, "facilities", t)
    panel = waiting_panel(page, "hand-out", t["to_hand_out"], 1)
    panel.locator(".panel-link").click()
    expect(page).to_have_url(re.compile(r"/lending/checkout/$"))
    row = page.locator("main tr").filter(has=page.get_by_role("link", name=f"#{request.pk}"))
    row.get_by_role("link", name=t["hand_out"], exact=True).click()
    expect(page).to_have_url(re.compile(rf"/lending/checkout/\?request={request.pk}$"))

    # The receiving operator is one the request names (the field suggests them); they sign.
    named = page.locator("#named-operators option")
    expect(named).to_have_count(len(OPERATORS))
    operator = named.nth(1).get_attribute("value")
    assert operator == OPERATORS[1]
    page.locator("[name=operator_name]").fill(operator)
    page.locator("[name=acknowledged_name]").fill("佐藤花子")
    # Typed with a Japanese IME left on: full width and lower case.
    page.locator("[name=tag]").fill("ｎｗ－０００１")
    page.locator("[name=tag]").press("Enter")
    accepted = page.locator(".scan-result.accepted")
    expect(accepted).to_have_count(1)
    expect(accepted).to_contain_text(t["accepted"])
    expect(page.locator(".progress-count")).to_have_text(t["one_of_one"])

    # Another operator brings back the terminal lent earlier.
    follow_menu(page, t["return"])
    expect(page).to_have_url(re.compile(r"/lending/returns/$"))
    page.locator("[name=tag]").fill("nw-0002")
    page.get_by_role("button", name=t["find_loan"]).click()
    expect(page).to_have_url(re.compile(rf"/lending/loans/{out.pk}/return/$"))
    page.locator('[name=condition][value="ok"]').check()
    cards = page.locator("[name=cards_returned]")
    expect(cards).to_have_count(len(out_cards))
    for card in cards.all():
        card.check()
    page.locator("[name=operator_signature]").fill("鈴木一郎")
    page.locator('[name=data_disposition][value="none_obtained"]').check()
    page.get_by_role("button", name=t["confirm_return"]).click()
    expect(messages(page)).to_contain_text(t["received"].format(tag="NW-0002"))

    loan = Loan.objects.get(request=request)
    assert loan.status == LoanStatus.OPEN
    assert loan.terminal.asset_tag == "NW-0001"
    assert loan.terminal.status == Terminal.Status.LENT
    assert (loan.operator_name, loan.acknowledged_name) == ("佐藤 花子", "佐藤花子")
    assert loan.handed_out_by == demo.facilities
    assert set(loan.cards.values_list("card_number", flat=True)) == {"IC-0011"}

    out.refresh_from_db()
    assert out.status == LoanStatus.RETURNED
    confirmation = ReturnConfirmation.objects.get(loan=out)
    assert confirmation.received_by == demo.facilities
    assert confirmation.condition == "ok"
    assert confirmation.operator_signature == "鈴木一郎"
    assert confirmation.data_disposition == "none_obtained"
    assert set(confirmation.cards_returned.values_list("card_number", flat=True)) == out_cards
    assert not AccessCard.objects.filter(
        card_number__in=out_cards, status=AccessCard.Status.LENT
    ).exists()
    accounts = Account.objects.filter(terminal=out.terminal).exclude(state=AccountState.DELETED)
    assert accounts.count() == 2
    for account in accounts:
        assert Rotation.objects.filter(account=account, reason=RotationReason.RETURN).count() == 1


@pytest.mark.e2e
def test_an_approver_approves_a_submitted_request_from_the_queue(live_server, page: Page, demo):
    t = TEXT["ja"]
    request = submit(demo, declare(demo), OPERATORS, "千葉県館山市 配電復旧現場", quantity=2)

    log_in(page, live_server.url, "approver", t)
    panel = waiting_panel(page, "approve", t["to_approve"], 1)
    panel.locator(".panel-link").click()
    expect(page).to_have_url(re.compile(r"/lending/requests/queue/$"))
    item = page.locator(".queue-item").filter(has_text="千葉県館山市 配電復旧現場")
    expect(item).to_contain_text("山田 太郎, 佐藤 花子")
    item.get_by_role("button", name=t["approve"], exact=True).click()
    expect(messages(page)).to_have_text(t["approved"].format(id=request.pk))
    expect(page).to_have_url(re.compile(r"/lending/requests/queue/$"))
    expect(page.locator(".queue-item")).to_have_count(0)

    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    assert request.decided_by == demo.approver
    assert request.decided_at is not None


@pytest.mark.e2e
def test_security_declares_lifts_and_closes_and_resolves_a_finding(live_server, page: Page, demo):
    t = TEXT["ja"]
    drill = declare(demo, title="令和8年 防災訓練")
    undecided = submit(demo, drill, OPERATORS, "訓練会場")
    run_policy_checks()
    finding = Discrepancy.objects.get(
        kind=DiscrepancyKind.OUTSIDE_SECURED_LOCATION, subject=UNSECURED_TAG
    )
    discrepancy_assign(discrepancy=finding, actor=demo.security, assignee=demo.security)

    log_in(page, live_server.url, "security", t)

    # A disaster is declared over the demo site.
    follow_menu(page, t["declarations"])
    page.get_by_role("link", name=t["declare_disaster"]).click()
    page.locator("[name=title]").fill("令和8年 台風15号")
    page.get_by_label(SITE).check()
    page.get_by_role("button", name=t["declare"], exact=True).click()
    expect(messages(page)).to_have_text(t["declared"])
    expect(page).to_have_url(re.compile(r"/lending/declarations/\d+/$"))

    # The drill, with nothing out, is lifted then closed; each asks first, naming what it does.
    follow_menu(page, t["declarations"])
    page.get_by_role("link", name="令和8年 防災訓練").click()
    page.get_by_role("button", name=t["lift"], exact=True).click()
    confirm(page, t["lift_effect"], t["none_out"])
    expect(messages(page)).to_contain_text(t["lifted"])
    page.get_by_role("button", name=t["close"], exact=True).click()
    confirm(page, t["close_effect"])
    expect(messages(page)).to_have_text(t["closed"])

    # The finding assigned to them: a terminal left in an unlocked meeting room, put away.
    page.locator("header .brand").click()
    panel = waiting_panel(page, "findings", t["assigned_findings"], 1)
    panel.locator(".panel-link").click()
    page.locator("table.discrepancies").get_by_role("link", name=UNSECURED_TAG).click()
    expect(page).to_have_url(re.compile(rf"/discrepancies/{finding.pk}/$"))
    page.get_by_label(t["fixed"]).check()
    page.get_by_label(t["note"]).fill("保管庫Aへ戻し、施錠を確認")
    page.get_by_role("button", name=t["resolve"], exact=True).click()
    expect(messages(page)).to_contain_text(t["resolved"].format(subject=UNSECURED_TAG))

    declared = Declaration.objects.exclude(pk=drill.pk).get()
    assert (declared.title, declared.status) == ("令和8年 台風15号", DeclarationStatus.ACTIVE)
    assert declared.declared_by == demo.security
    assert list(declared.sites.all()) == [demo.site]
    drill.refresh_from_db()
    assert drill.status == DeclarationStatus.CLOSED
    assert (drill.lifted_by, drill.closed_by) == (demo.security, demo.security)
    undecided.refresh_from_db()
    assert undecided.status == RequestStatus.CANCELLED
    finding.refresh_from_db()
    assert finding.status == Discrepancy.Status.RESOLVED
    assert finding.outcome == DiscrepancyOutcome.FIXED
    assert finding.resolved_by == demo.security
    assert finding.resolution_note == "保管庫Aへ戻し、施錠を確認"


def _snapshot() -> dict:
    return {
        "events": AuditEvent.objects.count(),
        "last_event": AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first(),
        "declarations": list(Declaration.objects.values_list("pk", "status")),
        "requests": list(AccessRequest.objects.values_list("pk", "status")),
        "loans": list(Loan.objects.values_list("pk", "status")),
        "terminals": list(Terminal.objects.order_by("pk").values_list("pk", "status")),
        "stocktakes": list(StockTake.objects.values_list("pk", "status")),
        "findings": list(Discrepancy.objects.values_list("pk", "status")),
        "revealed": SecretVersion.objects.filter(revealed_at__isnull=False).count(),
    }


@pytest.mark.e2e
def test_an_auditor_reads_the_audit_trail_and_a_close_report_without_writing(
    live_server, page: Page, demo
):
    t = TEXT["ja"]
    declaration = declare(demo)
    loan = lend(
        demo, approved(demo, declaration, OPERATORS, "千葉県館山市 配電復旧現場"), "NW-0004"
    )
    seal_pending()  # what beat's sealer does every second (on PostgreSQL events wait for it)
    chain_check()  # and what it does every AUDIT_CHECK_SECONDS: the page shows the last check
    before = _snapshot()
    checked_out = AuditEvent.objects.filter(action="loan.checked_out").count()
    assert checked_out == 1

    log_in(page, live_server.url, "auditor", t)
    follow_menu(page, t["audit_trail"])
    expect(page).to_have_url(re.compile(r"/audit/$"))
    chain = page.locator(".chain-status")
    expect(chain).to_have_class(re.compile(r"\bok-box\b"))
    expect(chain).to_have_text(t["chain_intact"].format(n=before["events"]))

    page.locator("[name=action]").select_option("loan.checked_out")
    page.locator("form.filters").get_by_role("button", name=t["search"]).click()
    expect(page).to_have_url(re.compile(r"[?&]action=loan\.checked_out(&|$)"))
    expect(page.locator(".result-count")).to_have_text(t["events"].format(n=checked_out))
    rows = page.locator("table.audit-events tbody tr")
    expect(rows).to_have_count(checked_out)
    expect(rows.locator(".event-action")).to_have_attribute("data-action", "loan.checked_out")
    expect(rows).to_contain_text("facilities")
    expect(rows).to_contain_text("NW-0004")
    expect(chain).to_have_text(t["chain_intact"].format(n=before["events"]))

    follow_menu(page, t["declarations"])
    page.get_by_role("link", name=declaration.title).click()
    page.get_by_role("link", name=t["report"]).click()
    expect(page).to_have_url(re.compile(rf"/lending/declarations/{declaration.pk}/report/$"))
    report = page.locator("table.report tbody tr")
    expect(report).to_have_count(1)
    expect(report).to_contain_text("NW-0004")
    expect(report).to_contain_text(loan.operator_name)

    assert _snapshot() == before


@pytest.mark.e2e
def test_a_contractor_requests_terminals_in_japanese(live_server, page: Page, demo):
    t = TEXT["ja"]
    declaration = declare(demo)

    log_in(page, live_server.url, "contractor", t)
    follow_menu(page, t["request_terminals"])
    expect(page.locator("[name=declaration]")).to_have_value(str(declaration.pk))
    page.locator("[name=work_site]").fill("千葉県館山市 配電復旧現場")
    page.locator("[name=quantity]").fill("2")
    page.locator("[name=operators]").fill("\n".join(OPERATORS))
    page.locator("[name=purpose]").fill("停電復旧作業の顧客対応")
    until = timezone.localtime(needed_until()).replace(second=0, microsecond=0)
    page.locator("[name=needed_until]").fill(until.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name=t["submit"]).click()
    expect(page).to_have_url(re.compile(r"/lending/requests/\d+/$"))

    request = AccessRequest.objects.get()
    expect(page).to_have_url(re.compile(rf"/lending/requests/{request.pk}/$"))
    expect(messages(page)).to_contain_text(t["submitted"].format(id=request.pk))
    assert request.status == RequestStatus.SUBMITTED
    assert request.submitted_by == demo.contractor
    assert request.contractor == demo.contractor.organization
    assert request.declaration == declaration
    assert request.operators == OPERATORS
    assert request.quantity == 2
    assert request.work_site == "千葉県館山市 配電復旧現場"
    assert request.needed_until == until


@pytest.mark.e2e
def test_a_contractor_sees_the_credentials_of_a_loan_once_in_english(live_server, page: Page, demo):
    t = {**TEXT["ja"], **TEXT["en"]}
    request = approved(demo, declare(demo), OPERATORS, "千葉県館山市 配電復旧現場")
    loan = lend(demo, request, "NW-0003")
    accounts = list(
        Account.objects.filter(terminal=loan.terminal)
        .exclude(state=AccountState.DELETED)
        .select_related("current_version", "target_system")
        .order_by("pk")
    )
    assert len(accounts) == 2

    log_in(page, live_server.url, "contractor", t)
    page.locator(".lang-switch").get_by_role("button", name=t["english"]).click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    follow_menu(page, t["my_loans"])
    page.locator("table.loans").get_by_role("link", name="NW-0003").click()
    page.get_by_role("link", name=t["show_credentials"]).click()
    page.get_by_label(t["your_password"]).fill(DEMO_PASSWORDS["contractor"])
    page.get_by_role("button", name=t["show_once"]).click()
    expect(page.locator(".reveal-warning")).to_contain_text(t["shown_once"])
    shown = page.locator(".secret-value:not(.password)")
    expect(shown).to_have_count(len(accounts))
    assert sorted(shown.all_inner_texts()) == sorted(a.current_version.login_id for a in accounts)

    for account in accounts:
        version = SecretVersion.objects.get(pk=account.current_version_id)
        assert version.revealed_at is not None
        assert version.revealed_by == demo.contractor
    assert AuditEvent.objects.filter(action="secret.revealed", actor=demo.contractor).count() == 2
