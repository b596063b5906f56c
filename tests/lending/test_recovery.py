"""Crash-safety of check-out, revocation and loss: what a killed process leaves behind is
recorded in the database, and a sweeper (or `manage.py recover`) finishes or compensates it."""

import datetime
import io
import threading

import pytest
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from core.errors import TransitionNotAllowed
from core.models import AuditEvent
from credentials.accounts import account_create
from credentials.connectors import ConnectorError
from credentials.models import AccountState, Rotation, RotationStatus
from credentials.rotation import rotation_resend_stale
from credentials.targets import target_system_create
from lending import services
from lending.models import Loan, LoanStatus
from terminals import services as inventory
from terminals.models import AccessCard, Terminal
from tests.factories import make_card, make_terminal, make_user

UNLOCK = "credentials.connectors.local.LocalConnector.unlock"
LOCK = "credentials.connectors.local.LocalConnector.lock"


class Killed(BaseException):
    """The process dies here: not an Exception, so no handler of the code under test runs."""


@pytest.fixture
def world(
    site, cabinet, operator, facilities, security, contractor, django_capture_on_commit_callbacks
):
    """A terminal with two accounts (rotated once, as the worker would) and a card, and an
    approved request under an active declaration."""
    targets = [
        target_system_create(actor=None, code=code, name=code, connector="local")
        for code in ("cc", "nol")
    ]
    terminal = make_terminal(location=cabinet)
    with django_capture_on_commit_callbacks(execute=True):
        for target in targets:
            account_create(actor=None, target_system=target, terminal=terminal)
    card = make_card(location=cabinet, terminal=terminal)
    declaration = services.declaration_declare(actor=security, title="台風10号", sites=[site])
    request = services.access_request_submit(
        actor=contractor,
        declaration=declaration,
        work_site="千葉県館山市 配電復旧現場",
        quantity=1,
        operators=["山田 太郎"],
        purpose="停電復旧作業の顧客対応",
        needed_until=timezone.now() + datetime.timedelta(days=3),
    )
    approver = make_user("approver", "facilities", operator)
    request = services.access_request_approve(request=request, actor=approver)
    return {"terminal": terminal, "card": card, "request": request}


def checkout(world, actor):
    return services.loan_checkout(
        request=world["request"],
        terminal=world["terminal"],
        actor=actor,
        operator_name="山田 太郎",
        acknowledged_name="山田 太郎",
    )


def interrupted_checkout(world, actor, monkeypatch) -> Loan:
    """A check-out whose process dies after one account was unlocked on its target."""
    unlocked = []

    def unlock_then_die(self, login_id):
        if unlocked:
            raise Killed
        unlocked.append(login_id)

    with monkeypatch.context() as patch:
        patch.setattr(UNLOCK, unlock_then_die)
        with pytest.raises(Killed):
            checkout(world, actor)
    return Loan.objects.get(terminal=world["terminal"])


def test_a_checkout_killed_after_reserving_is_abandoned_and_its_terminal_lent_again(
    world, facilities, monkeypatch, django_capture_on_commit_callbacks
):
    loan = interrupted_checkout(world, facilities, monkeypatch)
    terminal = world["terminal"]
    terminal.refresh_from_db()
    assert (loan.status, terminal.status) == (LoanStatus.CHECKING_OUT, Terminal.Status.RESERVED)

    with django_capture_on_commit_callbacks(execute=True):
        assert services.stuck_checkouts_recover(older_than_seconds=0) == 1

    loan.refresh_from_db()
    terminal.refresh_from_db()
    assert loan.status == LoanStatus.ABANDONED
    assert terminal.status == Terminal.Status.IN_STORAGE
    # Which accounts were unlocked is unknown: every one is rotated (locked, new values).
    rotations = Rotation.objects.filter(account__terminal=terminal, reason="revoked")
    assert sorted(rotations.values_list("status", flat=True)) == [RotationStatus.SUCCEEDED] * 2
    assert set(terminal.accounts.values_list("state", flat=True)) == {AccountState.LOCKED}
    assert AccessCard.objects.get(pk=world["card"].pk).status == AccessCard.Status.IN_STORAGE
    event = AuditEvent.objects.get(action="loan.abandoned")
    assert event.object_id == str(loan.pk) and event.details["recovered"] is True
    assert "interrupted" in event.details["error"]

    again = checkout(world, facilities)
    assert again.status == LoanStatus.OPEN
    assert list(again.cards.values_list("status", flat=True)) == [AccessCard.Status.LENT]


def test_a_checkout_younger_than_the_threshold_is_left_alone(
    world, facilities, monkeypatch, settings
):
    settings.CHECKOUT_STUCK_SECONDS = 120
    loan = interrupted_checkout(world, facilities, monkeypatch)

    assert services.stuck_checkouts_recover() == 0
    loan.refresh_from_db()
    assert loan.status == LoanStatus.CHECKING_OUT
    assert not Rotation.objects.filter(reason="revoked").exists()

    Loan.objects.filter(pk=loan.pk).update(
        checked_out_at=timezone.now() - datetime.timedelta(seconds=121)
    )
    assert services.stuck_checkouts_recover() == 1


def test_the_sweeper_and_a_checkout_finishing_late_have_exactly_one_winner(
    world, facilities, monkeypatch
):
    """The sweeper took the loan first: the check-out that comes back from its targets is
    refused and changes nothing. A loan already lent is never taken by the sweeper."""
    reached_the_targets = []

    def slow_unlock(self, login_id):
        if not reached_the_targets:
            reached_the_targets.append(login_id)
            assert services.stuck_checkouts_recover(older_than_seconds=0) == 1

    monkeypatch.setattr(UNLOCK, slow_unlock)
    with pytest.raises(TransitionNotAllowed):
        checkout(world, facilities)
    loan = Loan.objects.get(terminal=world["terminal"])
    assert loan.status == LoanStatus.ABANDONED
    assert AuditEvent.objects.filter(action="loan.abandoned").count() == 1
    assert not AuditEvent.objects.filter(action="loan.checked_out").exists()
    terminal = Terminal.objects.get(pk=world["terminal"].pk)
    assert terminal.status == Terminal.Status.IN_STORAGE


def test_a_lent_loan_is_not_a_stuck_checkout(world, facilities):
    loan = checkout(world, facilities)
    assert services.stuck_checkouts_recover(older_than_seconds=0) == 0
    loan.refresh_from_db()
    assert loan.status == LoanStatus.OPEN


@pytest.mark.parametrize("action", ["revoke", "lost"])
def test_a_revocation_killed_after_its_commit_has_its_rotations_recorded(
    world, facilities, security, monkeypatch, action, django_capture_on_commit_callbacks
):
    loan = checkout(world, facilities)
    locked_at_once = []
    monkeypatch.setattr(LOCK, lambda self, login_id: locked_at_once.append(login_id))

    def die(*args, **kwargs):
        raise Killed

    monkeypatch.setattr("lending.services.accounts_lock_on_targets", die)
    change = services.loan_revoke if action == "revoke" else services.loan_mark_lost
    # The broker never hears of it either: the commit's callbacks are not run.
    with django_capture_on_commit_callbacks(execute=False), pytest.raises(Killed):
        change(loan=loan, actor=security, reason="端末盗難")

    loan.refresh_from_db()
    assert loan.revoked_at is not None or loan.status == LoanStatus.LOST
    rotations = Rotation.objects.filter(account__terminal=loan.terminal_id, reason="revoked")
    assert list(rotations.values_list("status", flat=True)) == [RotationStatus.REQUESTED] * 2
    accounts = loan.terminal.accounts
    assert set(accounts.values_list("state", flat=True)) == {AccountState.ROTATION_PENDING}
    assert locked_at_once == []

    # The stale-rotation sweeper sends them; the rotation locks each account on its target.
    with django_capture_on_commit_callbacks(execute=True):
        assert rotation_resend_stale(older_than_seconds=0) == 2
    assert set(rotations.values_list("status", flat=True)) == {RotationStatus.SUCCEEDED}
    assert set(accounts.values_list("state", flat=True)) == {AccountState.LOCKED}


def test_a_revocation_whose_immediate_lock_fails_still_answers_and_rotates(
    world, facilities, security, monkeypatch, django_capture_on_commit_callbacks
):
    loan = checkout(world, facilities)
    login_ids = sorted(loan.terminal.accounts.values_list("login_id", flat=True))
    tried = []

    def directory_down(self, login_id):
        tried.append(login_id)
        raise ConnectorError("directory unreachable")

    monkeypatch.setattr(LOCK, directory_down)
    revoked = services.loan_revoke(loan=loan, actor=security, reason="端末盗難")

    assert revoked.revoked_at is not None
    assert sorted(tried) == login_ids  # tried at once, each account, after the commit
    rotations = Rotation.objects.filter(account__terminal=loan.terminal_id, reason="revoked")
    assert rotations.count() == 2


def test_manage_py_recover_runs_every_sweeper_and_says_what_each_did(
    world, facilities, cabinet, monkeypatch, django_capture_on_commit_callbacks
):
    interrupted_checkout(world, facilities, monkeypatch)
    retired = make_terminal(location=cabinet)
    target = world["terminal"].accounts.first().target_system
    with django_capture_on_commit_callbacks(execute=True):
        account_create(actor=None, target_system=target, terminal=retired)
    # Retired while the broker was down: its account is still on the target.
    inventory.terminal_retire(terminal=retired, actor=None, reason="耐用年数超過")

    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("recover", stuck_after=0, stdout=out)

    assert out.getvalue().splitlines() == [
        "stuck check-outs abandoned: 1",
        "stale rotations resent: 0",
        "retired terminals' accounts deleted: 1",
        # The world's request emails: their after-commit sending never ran in this test.
        "outbox tasks resent: 2",
        "returned terminals settled: 0",
    ]
    assert retired.accounts.get().state == AccountState.DELETED
    assert Loan.objects.get(terminal=world["terminal"]).status == LoanStatus.ABANDONED


def test_manage_py_recover_refuses_a_negative_threshold(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--stuck-after"):
        call_command("recover", stuck_after=-1, stdout=io.StringIO())


@pytest.mark.postgresql_only
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_a_checkout_and_the_sweeper_at_the_same_moment_have_one_winner(
    world, facilities
):
    loan, cards, accounts = services._reserve(
        request=world["request"],
        terminal=world["terminal"],
        actor=facilities,
        operator_name="山田 太郎",
        operator_reason="",
        acknowledged_name="山田 太郎",
        cards=None,
    )
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def run(i, work):
        try:
            barrier.wait(timeout=10)
            results[i] = work()
        except Exception as exc:  # the loser's refusal is a result under test
            results[i] = exc
        finally:
            connections.close_all()

    threads = [
        threading.Thread(
            target=run,
            args=(
                0,
                lambda: services._confirm_lent(
                    loan=loan, actor=facilities, cards=cards, accounts=accounts
                ),
            ),
        ),
        threading.Thread(
            target=run,
            args=(1, lambda: services._stuck_checkout_abandon(loan_id=loan.pk, waited=0)),
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    lent, abandoned = results
    loan.refresh_from_db()
    terminal = Terminal.objects.get(pk=world["terminal"].pk)
    actions = list(
        AuditEvent.objects.filter(action__in=["loan.checked_out", "loan.abandoned"]).values_list(
            "action", flat=True
        )
    )
    if abandoned is True:
        assert isinstance(lent, TransitionNotAllowed)
        assert (loan.status, terminal.status) == (LoanStatus.ABANDONED, Terminal.Status.IN_STORAGE)
        assert actions == ["loan.abandoned"]
    else:
        assert abandoned is False and isinstance(lent, Loan)
        assert (loan.status, terminal.status) == (LoanStatus.OPEN, Terminal.Status.LENT)
        assert actions == ["loan.checked_out"]
        assert not Rotation.objects.filter(reason="revoked").exists()
