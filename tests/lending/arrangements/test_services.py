"""Arrangements: proposal, approval by a second officer, lending under them, the end by itself
(loans due, accounts locked then deleted, a finding each day a terminal is still out) and
extensions."""

import datetime

import pytest
import time_machine
from django.utils import timezone

from compliance.models import Discrepancy
from compliance.policy_checks import run_policy_checks
from core.errors import InvalidInput, RuleViolation
from core.models import AuditEvent
from credentials.models import AccountState
from lending import arrangements, services
from lending.models import (
    ArrangementStatus,
    DeclarationKind,
    DeclarationStatus,
    ExtensionStatus,
    LoanStatus,
    RequestStatus,
)
from terminals.models import Terminal
from tests.lending.arrangements.conftest import in_days, propose, submit_under

OUT = "arrangement_terminal_out"


def field_errors(excinfo) -> dict:
    return excinfo.value.field_errors


# Proposal -------------------------------------------------------------------------------------


def test_a_proposal_covers_its_terminals_and_every_account_of_them(proposed, terminals):
    assert proposed.status == ArrangementStatus.PROPOSED
    assert set(proposed.terminals.all()) == set(terminals[:2])
    assert {a.terminal_id for a in proposed.accounts.all()} == {t.pk for t in terminals[:2]}
    assert proposed.declaration is None
    assert AuditEvent.objects.filter(action="arrangement.proposed").count() == 1


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"ends_at": in_days(-2)}, "ends_at", "future"),
        ({"starts_at": in_days(5), "ends_at": in_days(4)}, "ends_at", "after the start"),
        ({"starts_at": in_days(0), "ends_at": in_days(400)}, "ends_at", "365 days"),
        ({"title": " "}, "title", "title"),
        ({"parties": []}, "parties", "party"),
        ({"terminals": []}, "terminals", "terminal"),
        ({"ends_at": None}, "ends_at", "end"),
    ],
)
def test_a_bad_proposal_is_refused_on_its_field(
    security, contractor_org, terminals, changes, field, words
):
    fields = {"parties": [contractor_org], "terminals": terminals[:1], **changes}
    with pytest.raises(InvalidInput) as excinfo:
        propose(security, **fields)
    assert words in " ".join(field_errors(excinfo)[field])
    assert not AuditEvent.objects.filter(action="arrangement.proposed").exists()


def test_a_terminal_not_in_storage_cannot_be_covered(security, contractor_org, terminals):
    Terminal.objects.filter(pk=terminals[0].pk).update(status=Terminal.Status.MAINTENANCE)
    with pytest.raises(InvalidInput) as excinfo:
        propose(security, [contractor_org], terminals[:1])
    assert "NW-00001" in field_errors(excinfo)["terminals"][0]


def test_an_account_of_another_terminal_cannot_be_covered(security, contractor_org, terminals):
    foreign = terminals[2].accounts.get()
    with pytest.raises(InvalidInput) as excinfo:
        propose(security, [contractor_org], terminals[:1], accounts=[foreign])
    assert "accounts" in field_errors(excinfo)


# Approval -------------------------------------------------------------------------------------


def test_the_proposer_cannot_approve_or_reject_their_own_proposal(proposed, security):
    with pytest.raises(RuleViolation) as excinfo:
        arrangements.arrangement_approve(arrangement=proposed, actor=security)
    assert "second security officer" in " ".join(excinfo.value.reasons)
    with pytest.raises(RuleViolation):
        arrangements.arrangement_reject(arrangement=proposed, actor=security, reason="取り下げ")
    proposed.refresh_from_db()
    assert proposed.status == ArrangementStatus.PROPOSED


def test_a_second_officer_approves_and_its_declaration_is_declared(
    proposed, second_security, terminals, site
):
    arrangement = arrangements.arrangement_approve(arrangement=proposed, actor=second_security)
    declaration = arrangement.declaration
    assert arrangement.status == ArrangementStatus.ACTIVE
    assert arrangement.decided_by == second_security
    assert declaration.kind == DeclarationKind.ARRANGEMENT
    assert declaration.status == DeclarationStatus.ACTIVE
    assert declaration.title == arrangement.title
    assert list(declaration.sites.all()) == [site]
    assert declaration.lending_limit == arrangement.ends_at
    assert declaration.declared_by == second_security
    event = AuditEvent.objects.get(action="arrangement.approved")
    assert event.actor == second_security


def test_a_second_officer_rejects_with_a_reason(proposed, second_security):
    with pytest.raises(InvalidInput):
        arrangements.arrangement_reject(arrangement=proposed, actor=second_security, reason="")
    arrangement = arrangements.arrangement_reject(
        arrangement=proposed, actor=second_security, reason="根拠が不十分"
    )
    assert arrangement.status == ArrangementStatus.REJECTED
    assert arrangement.declaration is None


# Lending under it ----------------------------------------------------------------------------


def test_its_own_terminal_is_lent_under_it(lent, terminals):
    assert lent.status == LoanStatus.OPEN
    assert lent.terminal == terminals[0]


def test_a_terminal_outside_it_is_refused_at_check_out(lent, facilities, terminals):
    request = lent.request
    request.quantity = 2
    request.save()
    with pytest.raises(RuleViolation) as excinfo:
        services.loan_checkout(
            request=request,
            terminal=terminals[2],
            actor=facilities,
            operator_name="山田 太郎",
            acknowledged_name="山田 太郎",
        )
    assert any("not covered by the arrangement" in r for r in excinfo.value.reasons)


def test_a_request_may_not_need_terminals_beyond_its_end(active, contractor):
    with pytest.raises(InvalidInput) as excinfo:
        submit_under(active, contractor, needed_days=11)
    assert "needed_until" in field_errors(excinfo)


# The end -------------------------------------------------------------------------------------


def findings_out():
    return Discrepancy.objects.filter(kind=OUT)


def test_the_end_makes_loans_due_locks_accounts_raises_daily_findings_then_deletes(
    lent, active, terminals, facilities, cabinet, django_capture_on_commit_callbacks
):
    lent_account = terminals[0].accounts.get()
    stored_account = terminals[1].accounts.get()
    untouched = terminals[2].accounts.get()
    assert lent_account.state == AccountState.UNLOCKED
    after_end = active.ends_at + datetime.timedelta(minutes=5)

    with time_machine.travel(after_end, tick=False):
        result = arrangements.arrangements_sweep()
        assert result.ended == [active.pk]
        assert result.locked == [lent_account.pk]
        active.refresh_from_db()
        lent.refresh_from_db()
        assert active.status == ArrangementStatus.ENDED
        assert active.declaration.status == DeclarationStatus.LIFTED
        assert lent.due_at <= timezone.now()
        ended = AuditEvent.objects.get(action="arrangement.ended")
        assert ended.actor is None
        lent_account.refresh_from_db()
        assert lent_account.state == AccountState.LOCKED
        # Idempotent: a second run finds nothing to do.
        again = arrangements.arrangements_sweep()
        assert (again.ended, again.locked, again.deleted) == ([], [], [])
        assert AuditEvent.objects.filter(action="arrangement.ended").count() == 1

        assert run_policy_checks().get(OUT) == 1
        assert run_policy_checks().get(OUT) is None  # one per terminal and day
    with time_machine.travel(after_end + datetime.timedelta(days=1), tick=False):
        assert run_policy_checks().get(OUT) == 1
        assert findings_out().count() == 2
        assert {f.terminal for f in findings_out()} == {terminals[0]}
        with django_capture_on_commit_callbacks(execute=True):
            services.loan_return(
                loan=lent,
                actor=facilities,
                condition="ok",
                cards_returned=[],
                return_location=cabinet,
                handed_back_by="山田 太郎",
                operator_signature="山田 太郎",
                data_disposition="none_obtained",
            )
    with time_machine.travel(after_end + datetime.timedelta(days=2), tick=False):
        assert run_policy_checks().get(OUT) is None
        assert findings_out().count() == 2
        assert arrangements.arrangements_sweep().deleted == []  # within the grace period
    with time_machine.travel(after_end + datetime.timedelta(days=7, minutes=1), tick=False):
        result = arrangements.arrangements_sweep()
    assert sorted(result.deleted) == sorted([lent_account.pk, stored_account.pk])
    for account in (lent_account, stored_account, untouched):
        account.refresh_from_db()
    assert lent_account.state == AccountState.DELETED
    assert stored_account.state == AccountState.DELETED
    assert untouched.state == AccountState.LOCKED  # not covered


def test_an_end_cancels_requests_not_yet_decided(active, contractor):
    waiting = submit_under(active, contractor)
    with time_machine.travel(active.ends_at + datetime.timedelta(minutes=1), tick=False):
        arrangements.arrangements_sweep()
    waiting.refresh_from_db()
    assert waiting.status == RequestStatus.CANCELLED


def test_an_account_another_active_arrangement_covers_is_kept(
    active, terminals, security, second_security, contractor_org
):
    other = propose(security, [contractor_org], terminals[1:2], ends_at=in_days(60))
    arrangements.arrangement_approve(arrangement=other, actor=second_security)
    shared = terminals[1].accounts.get()
    with time_machine.travel(active.ends_at + datetime.timedelta(minutes=1), tick=False):
        arrangements.arrangements_sweep()
    with time_machine.travel(active.ends_at + datetime.timedelta(days=8), tick=False):
        arrangements.arrangements_sweep()
    shared.refresh_from_db()
    assert shared.state == AccountState.LOCKED
    assert terminals[0].accounts.get().state == AccountState.DELETED


def test_an_arrangement_not_yet_due_is_left_alone(active):
    assert arrangements.arrangements_sweep().ended == []
    active.refresh_from_db()
    assert active.status == ArrangementStatus.ACTIVE


# Extensions ----------------------------------------------------------------------------------


def test_an_extension_needs_a_second_officer_and_moves_the_end(active, security, second_security):
    new_end = in_days(20)
    extension = arrangements.arrangement_extension_propose(
        arrangement=active, actor=security, new_ends_at=new_end, reason="移行が遅延"
    )
    active.refresh_from_db()
    assert active.ends_at < new_end  # nothing moves before the approval
    with pytest.raises(RuleViolation) as excinfo:
        arrangements.arrangement_extension_approve(extension=extension, actor=security)
    assert "second security officer" in " ".join(excinfo.value.reasons)

    arrangements.arrangement_extension_approve(extension=extension, actor=second_security)
    active.refresh_from_db()
    extension.refresh_from_db()
    assert extension.status == ExtensionStatus.APPROVED
    assert active.ends_at == new_end
    assert active.declaration.lending_limit == new_end
    assert list(arrangements.extension_history(active)) == [extension]
    assert AuditEvent.objects.filter(action="arrangement.extended").count() == 1


@pytest.mark.parametrize(
    ("days", "reason", "field"),
    [(5, "理由", "new_ends_at"), (20, "", "reason"), (500, "理由", "new_ends_at")],
)
def test_a_bad_extension_is_refused_on_its_field(active, security, days, reason, field):
    with pytest.raises(InvalidInput) as excinfo:
        arrangements.arrangement_extension_propose(
            arrangement=active, actor=security, new_ends_at=in_days(days), reason=reason
        )
    assert field in field_errors(excinfo)


def test_an_ended_arrangement_cannot_be_extended(active, security):
    with time_machine.travel(active.ends_at + datetime.timedelta(minutes=1), tick=False):
        arrangements.arrangements_sweep()
    with pytest.raises(RuleViolation):
        arrangements.arrangement_extension_propose(
            arrangement=active, actor=security, new_ends_at=in_days(30), reason="延長"
        )
