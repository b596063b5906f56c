"""The whole disaster-lending journey in a browser, in Japanese (the default language; the
inventory journey is the one that tests the switcher and English): security declares; a
contractor submits the web form; one facilities user approves and a second one hands out two
terminals by typing their tags; the contractor sees the credentials once and a second look is
refused; facilities receive both returns; a real Celery worker on a real Redis rotates the
accounts and settles the returns; security lifts and closes the declaration and opens the close
report."""

import datetime
import logging
import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from core.roles import Role
from credentials.accounts import account_create
from credentials.models import Account, Rotation, RotationStatus
from credentials.secrets import secret_plaintext
from credentials.targets import target_system_create
from lending.models import Declaration, DeclarationStatus, ReturnConfirmation
from tests.e2e.conftest import SCREENS, follow_menu, pass_second_factor, wait_until_ready
from tests.factories import make_card, make_terminal, make_user
from tests.support.polling import wait_for
from tests.support.processes import RedisServer, Worker, service_env

TAGS = ["NW-E2E-1", "NW-E2E-2"]
LANG = "ja"
TEXT = {
    "ja": {
        "switch": "日本語",
        "log_in": "ログイン",
        "log_out": "ログアウト",
        "declarations": "災害発令",
        "declare_disaster": "非常災害体制を発令",
        "declare": "発令する",
        "declared": "非常災害体制を発令しました。",
        "request_terminals": "端末の貸与申請",
        "submit": "申請する",
        "submitted": re.compile(r"貸与申請 #\d+ を送信しました。"),
        "queue": "承認待ちの貸与申請",
        "approve": "承認",
        "approved": re.compile(r"貸与申請 #\d+ を承認しました。"),
        "checkout": "貸出",
        "hand_out": "貸出",
        "handed_out": "端末 {tag} を貸出しました。",
        "accepted": "貸出完了",
        "progress": "2 台中 2 台",
        "my_loans": "自社の貸与",
        "show_credentials": "ログインIDとパスワードを表示",
        "show_once": "表示する（一度だけ）",
        "shown_once": "表示は今回の一度だけです。",
        "ask_security": "情報セキュリティ管理者に連絡してください",
        "return": "返却",
        "confirm_return": "返却を確定",
        "received": "端末 {tag} の返却を受け付けました。",
        "lift": "解除",
        "lifted": "発令を解除しました。",
        "close": "終結",
        "closed": "発令を終結しました。",
        "report": "終結報告書",
    },
}
SETTLE_TIMEOUT = 90


@pytest.fixture
def world(transactional_db, site, cabinet, operator, django_capture_on_commit_callbacks):
    """Two terminals in the hq cabinet, each with an account (its first rotation runs here, in
    process) and an entry card; a second facilities user to hand them out."""
    target = target_system_create(
        actor=None, code="callcenter", name="コールセンターシステム", connector="local"
    )
    for tag in TAGS:
        terminal = make_terminal(location=cabinet, asset_tag=tag)
        make_card(location=cabinet, terminal=terminal, card_number=f"IC-{tag}")
        with django_capture_on_commit_callbacks(execute=True):
            account_create(actor=None, target_system=target, terminal=terminal)
    return {"handler": make_user("hana", Role.FACILITIES, operator)}


@pytest.fixture
def worker(world, tmp_path):
    """A real Redis and a real Celery worker with beat, on the test database."""
    redis = RedisServer(tmp_path)
    redis.start()
    env = service_env(
        tmp_path,
        redis.url,
        SETTLE_RETURNS_SECONDS="1",
        ROTATION_SWEEP_SECONDS="1",
        ROTATION_RESEND_AFTER_SECONDS="1",
    )
    log = tmp_path / "worker.log"
    process = Worker("lending-e2e", env, log, beat=True).start()
    yield {"redis": redis, "log": log}
    process.stop()
    redis.stop()


def _forget_broker_connections(app) -> None:
    # Celery keeps its connection and producer pools after first use: the next message must go
    # to the broker configured now. Only the references are dropped: kombu shares the pools
    # process-wide, per broker, and closing them would break every later test's tasks.
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def tasks_to_worker(world, worker):
    """The live server runs in this process, where tasks are eager (tests/conftest.py): send
    them to the worker's Redis instead, after the world's first rotations ran here."""
    from config.celery import app

    saved = (app.conf.task_always_eager, app.conf.broker_url)
    app.conf.task_always_eager, app.conf.broker_url = False, worker["redis"].url
    _forget_broker_connections(app)
    yield worker
    app.conf.task_always_eager, app.conf.broker_url = saved
    _forget_broker_connections(app)


@pytest.fixture
def sent_rotations(tasks_to_worker, monkeypatch):
    """(rotation id, task id) of each rotation message this process (the live server) sent.
    Every message leaves through the app's send_task, whether a service calls the task's .delay()
    or sends it by its name."""
    from config.celery import app

    sent = []
    send_task = app.send_task

    def spy(name, args=None, *more, **options):
        result = send_task(name, args, *more, **options)
        if name == "credentials.tasks.rotate_account":
            sent.append((args[0], result.id))
        return result

    monkeypatch.setattr(app, "send_task", spy)
    return sent


@pytest.fixture
def patient_expect():
    # A worker, beat and the live server share one machine and one SQLite file: give pages time.
    expect.set_options(timeout=15_000)
    yield
    expect.set_options(timeout=5_000)


def log_in(page: Page, url: str, user, password: str, t: dict) -> None:
    page.goto(url + "/login/")
    page.locator("input[name=username]").fill(user.username)
    page.locator("input[name=password]").fill(password)
    page.locator("main").get_by_role("button", name=t["log_in"]).click()
    pass_second_factor(page, user.username)


def log_out(page: Page, t: dict) -> None:
    page.locator("header").get_by_role("button", name=t["log_out"]).click()


def nav(page: Page, name: str) -> None:
    follow_menu(page, name)


def confirm(page: Page) -> None:
    """Press the button of the confirmation page (core.web.confirmation) that an irreversible
    action shows first; the caller then waits for the page the action leads to."""
    form = page.locator("form.confirmation")
    expect(form).to_be_visible()
    form.locator('button[type="submit"]').click()


def message(page: Page):
    return page.locator(".messages")


@pytest.mark.e2e
def test_a_terminal_is_declared_requested_lent_revealed_returned_rotated_and_reported(
    live_server,
    page: Page,
    screenshot,
    caplog,
    world,
    tasks_to_worker,
    sent_rotations,
    patient_expect,
    security,
    facilities,
    contractor,
    password,
):
    lang = LANG
    t = TEXT[lang]
    url = live_server.url
    (SCREENS / "lending").mkdir(parents=True, exist_ok=True)
    login_ids_before = set(Account.objects.values_list("login_id", flat=True))
    caplog.set_level(logging.WARNING, logger="credentials.rotation")

    page.goto(url + "/")
    page.get_by_role("button", name=t["switch"]).click()
    expect(page.locator("html")).to_have_attribute("lang", lang)

    # A security officer declares a disaster over the hq site.
    log_in(page, url, security, password, t)
    nav(page, t["declarations"])
    page.get_by_role("link", name=t["declare_disaster"]).click()
    page.locator("input[name=title]").fill("令和8年 台風15号")
    page.get_by_label("本店").check()
    page.get_by_role("button", name=t["declare"], exact=True).click()
    expect(message(page)).to_have_text(t["declared"])
    log_out(page, t)

    # The contractor submits the web form.
    log_in(page, url, contractor, password, t)
    expect(page.locator("main")).to_contain_text("令和8年 台風15号")
    nav(page, t["request_terminals"])
    page.locator("[name=work_site]").fill("千葉県館山市 配電復旧現場")
    page.locator("[name=quantity]").fill("2")
    page.locator("[name=operators]").fill("山田 太郎\n佐藤 花子")
    page.locator("[name=purpose]").fill("停電復旧作業の顧客対応")
    needed = timezone.localtime() + datetime.timedelta(days=2)
    page.locator("[name=needed_until]").fill(needed.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name=t["submit"]).click()
    expect(message(page)).to_have_text(t["submitted"])
    log_out(page, t)

    # A facilities user approves it from the queue.
    log_in(page, url, facilities, password, t)
    nav(page, t["queue"])
    expect(page.locator("main")).to_contain_text("千葉県館山市 配電復旧現場")
    page.locator("main").get_by_role("button", name=t["approve"], exact=True).click()
    expect(message(page)).to_have_text(t["approved"])
    log_out(page, t)

    # A second facilities user hands both terminals out, typing each tag and Enter.
    log_in(page, url, world["handler"], password, t)
    nav(page, t["checkout"])
    page.locator("main").get_by_role("link", name=t["hand_out"], exact=True).click()
    page.locator("[name=operator_name]").fill("山田 太郎")
    page.locator("[name=acknowledged_name]").fill("山田太郎")
    page.locator("[name=tag]").fill(TAGS[0])
    page.locator("[name=tag]").press("Enter")
    expect(page.locator(".scan-result").first).to_contain_text(t["handed_out"].format(tag=TAGS[0]))
    # The tag field has the focus again, as a keyboard-wedge scanner needs.
    expect(page.locator("[name=tag]")).to_be_focused()
    expect(page.locator("[name=operator_name]")).to_have_value("山田 太郎")
    page.keyboard.type(TAGS[1])
    page.keyboard.press("Enter")
    expect(page.locator(".scan-result").first).to_contain_text(t["handed_out"].format(tag=TAGS[1]))
    expect(page.locator(".scan-result.accepted")).to_have_count(2)
    expect(page.locator(".scan-result.accepted").first).to_contain_text(t["accepted"])
    expect(page.locator(".progress-count")).to_have_text(t["progress"])
    screenshot(f"lending/{lang}-counter")
    log_out(page, t)

    # The contractor sees the credentials of the first loan once; a second look is refused.
    first_account = Account.objects.get(terminal__asset_tag=TAGS[0])
    secret = secret_plaintext(first_account.current_version)
    log_in(page, url, contractor, password, t)
    nav(page, t["my_loans"])
    page.locator("main").get_by_role("link", name=TAGS[0]).click()
    page.get_by_role("link", name=t["show_credentials"]).click()
    credentials_url = page.url
    page.locator("[name=password]").fill(password)
    page.get_by_role("button", name=t["show_once"]).click()
    expect(page.locator(".reveal-warning")).to_contain_text(t["shown_once"])
    expect(page.locator("#password-1")).to_have_text(secret)
    expect(page.locator("#login-1")).to_have_text(first_account.login_id)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    wait_until_ready(page, "copy")
    page.locator("button[data-copy=password-1]").click()
    # The label says so for two seconds; the mark stays (a slow machine cannot miss it).
    expect(page.locator("button[data-copy=password-1]")).to_have_attribute("data-copied", "true")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    screenshot(f"lending/{lang}-reveal")
    page.goto(credentials_url)
    page.locator("[name=password]").fill(password)
    page.get_by_role("button", name=t["show_once"]).click()
    expect(page.locator(".reveal-refused")).to_contain_text(t["ask_security"])
    expect(page.locator("main")).not_to_contain_text(secret)
    log_out(page, t)

    # Facilities receive both returns; each commit sends its rotation to the worker.
    log_in(page, url, world["handler"], password, t)
    for tag in TAGS:
        nav(page, t["return"])
        page.locator("[name=tag]").fill(tag)
        page.locator("[name=tag]").press("Enter")
        page.locator("[name=operator_signature]").fill("山田太郎")
        page.locator('[name=data_disposition][value="destroyed"]').check()
        page.get_by_role("button", name=t["confirm_return"]).click()
        expect(message(page)).to_contain_text(t["received"].format(tag=tag))
    log_out(page, t)

    # The worker rotates every account and settles both returns.
    wait_for(
        lambda: (
            Rotation.objects.filter(reason="return", status=RotationStatus.SUCCEEDED).count()
            == len(TAGS)
            and ReturnConfirmation.objects.filter(settled_at__isnull=False).count() == len(TAGS)
        ),
        what="the rotations and settling of both returns",
        log=tasks_to_worker["log"],
        timeout=SETTLE_TIMEOUT,
    )
    # The live server's own messages reached the worker through Redis (not only the sweeper's).
    returns = set(Rotation.objects.filter(reason="return").values_list("pk", flat=True))
    assert {rotation_id for rotation_id, _task in sent_rotations} == returns
    worker_log = tasks_to_worker["log"].read_text(errors="replace")
    for _rotation, task_id in sent_rotations:
        assert f"credentials.tasks.rotate_account[{task_id}] received" in worker_log
    assert "could not be sent to a worker" not in caplog.text
    login_ids_after = set(Account.objects.values_list("login_id", flat=True))
    assert login_ids_after.isdisjoint(login_ids_before)

    # Security lifts and closes the declaration, then opens the close report.
    log_in(page, url, security, password, t)
    nav(page, t["declarations"])
    page.get_by_role("link", name="令和8年 台風15号").click()
    page.get_by_role("button", name=t["lift"], exact=True).click()
    confirm(page)
    expect(message(page)).to_contain_text(t["lifted"])
    page.get_by_role("button", name=t["close"], exact=True).click()
    confirm(page)
    expect(message(page)).to_have_text(t["closed"])
    assert Declaration.objects.get().status == DeclarationStatus.CLOSED
    page.get_by_role("link", name=t["report"]).click()
    report = page.locator("table.report tbody")
    expect(report.locator("tr")).to_have_count(len(TAGS))
    for tag in TAGS:
        expect(report).to_contain_text(tag)
    expect(report).to_contain_text("山田 太郎")
    screenshot(f"lending/{lang}-report")
