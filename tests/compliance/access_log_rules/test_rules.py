"""Each rule of compliance.access_log_rules on sign-ins built for it, against a terminal lent
and returned through the real services."""

import datetime

import pytest
import time_machine

from compliance.access_log_rules import access_log_analyse
from compliance.models import AccessLogAnalysis, DiscrepancyKind
from credentials.models import LoginIdRecord
from lending import services as lending
from lending.models import Declaration, DeclarationStatus, Loan, LoanStatus
from terminals.models import TerminalAddress
from tests.compliance.access_log_rules.conftest import (
    HOUR,
    JST,
    MINUTE,
    SECOND,
    T0,
    UTC,
    findings,
)

Kind = DiscrepancyKind


def kinds() -> list[tuple[str, str]]:
    return [(f.kind, f.subject) for f in findings()]


def moment(stored: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(stored)


def current_login_id(account) -> str:
    account.refresh_from_db()
    return account.login_id


def test_a_clean_log_of_normal_disaster_use_gives_no_finding(lent, account, terminal, sign_in):
    TerminalAddress.objects.create(terminal=terminal, address="10.20.30.40")
    loan = lent.checkout(terminal, at=T0)
    login_id = current_login_id(account)
    sign_in(T0 + MINUTE, login_id, host="nwpc-0001")
    sign_in(T0 + HOUR, login_id, host="NWPC-0001.grid.example.jp")  # FQDN, any case
    sign_in(T0 + 2 * HOUR, login_id, host="", address="10.20.30.40")
    sign_in(T0 + 3 * HOUR, login_id, result="failure")  # a mistyped password, once
    lent.give_back(loan, at=T0 + 5 * HOUR)

    analysis = access_log_analyse()

    assert (analysis.events, analysis.findings) == (4, 0)
    assert findings() == []


def test_a_sign_in_while_the_terminal_was_not_lent_is_a_finding(
    lent, account, terminal, sign_in, contractor_org
):
    before = sign_in(T0 - HOUR, current_login_id(account))  # in storage: no loan yet
    loan = lent.checkout(terminal, at=T0)
    lent.give_back(loan, at=T0 + HOUR)
    after = sign_in(T0 + 2 * HOUR, current_login_id(account))  # the new ID, terminal back

    access_log_analyse()

    first, second = findings(Kind.SIGN_IN_NOT_LENT)
    assert (first.sign_in, first.subject, first.loan) == (before, f"sign-in:{before.pk}", None)
    assert (first.account, first.terminal) == (account, terminal)
    assert first.details["expected"]["params"] == {"terminal": terminal.asset_tag}
    assert (second.sign_in, second.account, second.loan) == (after, account, None)
    assert kinds() == [
        (Kind.SIGN_IN_NOT_LENT, f"sign-in:{before.pk}"),
        (Kind.SIGN_IN_NOT_LENT, f"sign-in:{after.pk}"),
    ]


def test_a_sign_in_recorded_in_utc_is_judged_against_a_loan_made_in_tokyo(
    lent, account, terminal, sign_in
):
    day = T0.date() + datetime.timedelta(days=1)
    out_at = datetime.datetime.combine(day, datetime.time(8, 0), JST)  # 23:00 UTC the day before
    lent.checkout(terminal, at=out_at)
    login_id = current_login_id(account)
    the_day_before = day - datetime.timedelta(days=1)
    # 23:30 UTC is 08:30 the next morning in Tokyo: half an hour into the loan.
    during = sign_in(
        datetime.datetime.combine(the_day_before, datetime.time(23, 30), UTC), login_id
    )
    # 22:30 UTC is 07:30 in Tokyo: half an hour before the hand-out.
    early = sign_in(datetime.datetime.combine(the_day_before, datetime.time(22, 30), UTC), login_id)

    access_log_analyse()

    assert [f.sign_in for f in findings()] == [early]
    assert findings()[0].kind == Kind.SIGN_IN_NOT_LENT
    assert during.discrepancies.count() == 0


def test_an_old_login_id_is_judged_on_either_side_of_its_rotation_by_one_second(
    lent, account, terminal, sign_in, contractor_org
):
    loan = lent.checkout(terminal, at=T0)
    old = current_login_id(account)
    returned_at = T0 + 4 * HOUR
    lent.give_back(loan, at=returned_at)
    rotated = LoginIdRecord.objects.get(login_id=old)
    assert rotated.valid_until == returned_at  # the rotation ended it at the return

    just_before = sign_in(returned_at - SECOND, old)
    just_after = sign_in(returned_at + SECOND, old)
    refused = sign_in(returned_at + HOUR, old, result="failure")  # the target refused it

    access_log_analyse()

    assert just_before.discrepancies.count() == 0  # still valid, during the loan
    found = findings(Kind.SIGN_IN_OLD_LOGIN_ID)
    assert [f.sign_in for f in found] == [just_after, refused]
    finding = found[0]
    assert (finding.account, finding.terminal, finding.loan) == (account, terminal, loan)
    assert finding.details["contractor"] == contractor_org.code
    assert moment(finding.details["valid_until"]) == returned_at
    assert found[1].details["result"] == "failure"
    # An old ID is rule 2 only: not also "not lent" or "foreign host".
    assert {f.kind for f in findings()} == {Kind.SIGN_IN_OLD_LOGIN_ID}


def test_a_login_id_never_issued_for_the_target_is_a_finding_whatever_the_result(
    lent, account, terminal, sign_in
):
    lent.checkout(terminal, at=T0)
    admin = sign_in(T0 + MINUTE, "admin", result="failure", host="retail-pc-07")
    guest = sign_in(T0 + 2 * MINUTE, "guest", host="retail-pc-07")

    access_log_analyse()

    found = findings(Kind.SIGN_IN_UNKNOWN_LOGIN_ID)
    assert [f.sign_in for f in found] == [admin, guest]
    assert all(f.account is None and f.terminal is None for f in found)
    assert found[0].details["login_id"] == "admin"
    assert found[0].details["target_system"] == "cc"
    assert {f.kind for f in findings()} == {Kind.SIGN_IN_UNKNOWN_LOGIN_ID}


def test_a_login_id_of_another_target_is_unknown_on_this_one(lent, account, terminal, sign_in):
    from credentials.targets import target_system_create

    other = target_system_create(actor=None, code="nol", name="ネットワーク", connector="local")
    lent.checkout(terminal, at=T0)
    wrong_target = sign_in(T0 + MINUTE, current_login_id(account), target_system=other)

    access_log_analyse()

    assert [(f.kind, f.sign_in) for f in findings()] == [
        (Kind.SIGN_IN_UNKNOWN_LOGIN_ID, wrong_target)
    ]


def test_a_sign_in_from_another_host_than_the_terminal_is_a_finding(
    lent, account, terminal, sign_in
):
    TerminalAddress.objects.create(terminal=terminal, address="10.20.30.40")
    lent.checkout(terminal, at=T0)
    login_id = current_login_id(account)
    foreign_host = sign_in(T0 + 1 * MINUTE, login_id, host="retail-pc-07.example.jp")
    foreign_address = sign_in(T0 + 2 * MINUTE, login_id, host="", address="192.0.2.9")
    sign_in(T0 + 3 * MINUTE, login_id, host="nwpc-0001.grid.example.jp")  # its FQDN
    sign_in(T0 + 4 * MINUTE, login_id, host="dhcp-5", address="10.20.30.40")  # its address
    sign_in(T0 + 5 * MINUTE, login_id, host="", address=None)  # nothing to judge

    access_log_analyse()

    found = findings(Kind.SIGN_IN_FOREIGN_HOST)
    assert [f.sign_in for f in found] == [foreign_host, foreign_address]
    assert found[0].details["source_host"] == "retail-pc-07.example.jp"
    assert found[0].details["expected"]["params"] == {
        "terminal": terminal.asset_tag,
        "hostname": "nwpc-0001",
        "addresses": "10.20.30.40",
    }
    assert found[1].details["source_address"] == "192.0.2.9"
    assert {f.kind for f in findings()} == {Kind.SIGN_IN_FOREIGN_HOST}


def test_a_sign_in_after_the_lift_and_its_grace_or_after_the_due_time_is_a_finding(
    lent, account, terminal, sign_in, settings
):
    settings.LENDING_GRACE_HOURS = 24
    loan = lent.checkout(terminal, at=T0, due=T0 + datetime.timedelta(days=10))
    login_id = current_login_id(account)
    lifted_at = T0 + 2 * HOUR
    lent.lift(at=lifted_at)
    loan.refresh_from_db()
    assert loan.due_at == lifted_at + datetime.timedelta(hours=24)  # the lift made it due

    within_grace = sign_in(lifted_at + 23 * HOUR, login_id)
    after_grace = sign_in(lifted_at + 24 * HOUR + MINUTE, login_id)

    access_log_analyse()

    assert within_grace.discrepancies.count() == 0
    (finding,) = findings(Kind.SIGN_IN_AFTER_WINDOW)
    assert (finding.sign_in, finding.loan, finding.terminal) == (after_grace, loan, terminal)
    assert moment(finding.details["lifted_at"]) == lifted_at
    assert moment(finding.details["expected"]["params"]["until"]) == loan.due_at
    assert {f.kind for f in findings()} == {Kind.SIGN_IN_AFTER_WINDOW}


def test_a_sign_in_after_the_due_time_of_a_loan_kept_too_long_is_a_finding(
    lent, account, terminal, sign_in
):
    due = T0 + 8 * HOUR
    loan = lent.checkout(terminal, at=T0, due=due)
    login_id = current_login_id(account)
    on_time = sign_in(due - MINUTE, login_id)
    late = sign_in(due + MINUTE, login_id)

    access_log_analyse()

    assert on_time.discrepancies.count() == 0
    (finding,) = findings(Kind.SIGN_IN_AFTER_WINDOW)
    assert (finding.sign_in, finding.loan) == (late, loan)
    assert moment(finding.details["due_at"]) == due


def lift_with_grace(lent, *, at: datetime.datetime, grace_hours: int) -> None:
    """The declaration lifted with a grace of its own (the lift's `grace_hours`)."""
    with time_machine.travel(at, tick=False):
        lending.declaration_lift(
            declaration=lent.declaration, actor=lent.security, grace_hours=grace_hours
        )


def as_if_the_lift_had_not_reached(loan, due: datetime.datetime) -> None:
    """The loan keeps its own due time, as one still being handed out at the lift does."""
    Loan.objects.filter(pk=loan.pk).update(due_at=due)


def lifted_with_grace(lent, terminal, account, settings, *, grace_hours: int, reached: bool):
    """A loan out when its declaration is lifted 2 hours in, with `grace_hours` of its own
    (the setting: 24); `reached`: the lift made the loan due (else it kept its own due time).
    Answers the loan, its login ID and the lift's time."""
    settings.LENDING_GRACE_HOURS = 24
    due = T0 + datetime.timedelta(days=10)
    loan = lent.checkout(terminal, at=T0, due=due)
    lifted_at = T0 + 2 * HOUR
    lift_with_grace(lent, at=lifted_at, grace_hours=grace_hours)
    loan.refresh_from_db()
    if reached:
        assert loan.due_at == lifted_at + grace_hours * HOUR  # due after the lift's own grace
    else:
        as_if_the_lift_had_not_reached(loan, due)
    return loan, current_login_id(account), lifted_at


@pytest.mark.parametrize("reached", [True, False], ids=["made-due", "not-reached"])
def test_a_sign_in_within_a_lifts_longer_grace_than_the_setting_is_no_finding(
    lent, account, terminal, sign_in, settings, reached
):
    _loan, login_id, lifted_at = lifted_with_grace(
        lent, terminal, account, settings, grace_hours=48, reached=reached
    )

    # After the lift plus the setting's 24 hours, before the lift's own 48.
    beyond_the_setting = sign_in(lifted_at + 30 * HOUR, login_id)
    last_minute = sign_in(lifted_at + 48 * HOUR - MINUTE, login_id)

    access_log_analyse()

    assert beyond_the_setting.discrepancies.count() == 0
    assert last_minute.discrepancies.count() == 0
    assert findings(Kind.SIGN_IN_AFTER_WINDOW) == []


@pytest.mark.parametrize("reached", [True, False], ids=["made-due", "not-reached"])
def test_a_sign_in_after_a_lifts_longer_grace_is_a_finding(
    lent, account, terminal, sign_in, settings, reached
):
    loan, login_id, lifted_at = lifted_with_grace(
        lent, terminal, account, settings, grace_hours=48, reached=reached
    )

    late = sign_in(lifted_at + 48 * HOUR + MINUTE, login_id)

    access_log_analyse()

    (finding,) = findings(Kind.SIGN_IN_AFTER_WINDOW)
    assert (finding.sign_in, finding.loan, finding.terminal) == (late, loan, terminal)
    assert moment(finding.details["lifted_at"]) == lifted_at
    # The window the lift gave, not the setting's.
    assert moment(finding.details["expected"]["params"]["until"]) == lifted_at + 48 * HOUR
    assert {f.kind for f in findings()} == {Kind.SIGN_IN_AFTER_WINDOW}


@pytest.mark.parametrize("reached", [True, False], ids=["made-due", "not-reached"])
def test_a_sign_in_after_a_lifts_shorter_grace_within_the_setting_is_a_finding(
    lent, account, terminal, sign_in, settings, reached
):
    loan, login_id, lifted_at = lifted_with_grace(
        lent, terminal, account, settings, grace_hours=6, reached=reached
    )

    on_time = sign_in(lifted_at + 6 * HOUR - MINUTE, login_id)
    # After the lift's own 6 hours, within the setting's 24.
    late = sign_in(lifted_at + 10 * HOUR, login_id)

    access_log_analyse()

    assert on_time.discrepancies.count() == 0
    (finding,) = findings(Kind.SIGN_IN_AFTER_WINDOW)
    assert (finding.sign_in, finding.loan) == (late, loan)
    assert moment(finding.details["expected"]["params"]["until"]) == lifted_at + 6 * HOUR


def test_a_lift_with_no_grace_recorded_falls_back_to_the_setting(
    lent, account, terminal, sign_in, settings
):
    """A declaration lifted before its grace was recorded (grace_hours empty): the setting."""
    settings.LENDING_GRACE_HOURS = 24
    loan = lent.checkout(terminal, at=T0, due=T0 + datetime.timedelta(days=10))
    login_id = current_login_id(account)
    lifted_at = T0 + 2 * HOUR
    Declaration.objects.filter(pk=lent.declaration.pk).update(
        status=DeclarationStatus.LIFTED, lifted_at=lifted_at, lifted_by=lent.security
    )
    within = sign_in(lifted_at + 23 * HOUR, login_id)
    late = sign_in(lifted_at + 24 * HOUR + MINUTE, login_id)

    access_log_analyse()

    assert within.discrepancies.count() == 0
    (finding,) = findings(Kind.SIGN_IN_AFTER_WINDOW)
    assert (finding.sign_in, finding.loan) == (late, loan)
    assert moment(finding.details["expected"]["params"]["until"]) == lifted_at + 24 * HOUR


def test_a_sign_in_with_the_terminal_lost_during_its_loan_is_a_finding(
    lent, account, terminal, sign_in
):
    loan = lent.checkout(terminal, at=T0)
    lent.lose(loan, at=T0 + HOUR)  # its accounts are rotated at once
    loan.refresh_from_db()
    assert loan.status == LoanStatus.LOST
    with_new_id = sign_in(T0 + 2 * HOUR, current_login_id(account))

    access_log_analyse()

    (finding,) = findings(Kind.SIGN_IN_TERMINAL_NOT_LENT)
    assert (finding.sign_in, finding.loan, finding.terminal) == (with_new_id, loan, terminal)
    assert finding.details["terminal_status"] == "lost"
    assert {f.kind for f in findings()} == {Kind.SIGN_IN_TERMINAL_NOT_LENT}


@pytest.mark.parametrize(("failures", "found"), [(4, 0), (5, 1)])
def test_a_burst_is_the_threshold_of_failures_within_the_window(
    lent, account, terminal, sign_in, settings, failures, found
):
    settings.ACCESS_LOG_FAILURE_BURST_THRESHOLD = 5
    settings.ACCESS_LOG_FAILURE_BURST_SECONDS = 600
    lent.checkout(terminal, at=T0)
    login_id = current_login_id(account)
    events = [
        sign_in(T0 + i * 2 * MINUTE, login_id, result="failure") for i in range(failures)
    ]  # the last one 8 minutes after the first

    access_log_analyse()

    bursts = findings(Kind.SIGN_IN_FAILURE_BURST)
    assert len(bursts) == found
    if found:
        assert bursts[0].subject == f"burst:cc:{login_id}:{events[0].pk}"
        assert bursts[0].sign_in == events[0]
        assert bursts[0].details["failures"] == 5


def test_failures_further_apart_than_the_window_are_no_burst(
    lent, account, terminal, sign_in, settings
):
    settings.ACCESS_LOG_FAILURE_BURST_THRESHOLD = 3
    settings.ACCESS_LOG_FAILURE_BURST_SECONDS = 600
    lent.checkout(terminal, at=T0)
    login_id = current_login_id(account)
    for i in range(6):
        sign_in(T0 + i * 6 * MINUTE, login_id, result="failure")  # two per ten minutes

    access_log_analyse()

    assert findings() == []


def test_a_burst_counts_failures_analysed_before_and_is_found_once_however_long(
    account, sign_in, settings
):
    settings.ACCESS_LOG_FAILURE_BURST_THRESHOLD = 5
    settings.ACCESS_LOG_FAILURE_BURST_SECONDS = 600
    first = [sign_in(T0 + i * MINUTE, "admin", result="failure") for i in range(3)]
    access_log_analyse()
    assert findings(Kind.SIGN_IN_FAILURE_BURST) == []

    for i in range(3, 30):  # the attack goes on for half an hour, one a minute
        sign_in(T0 + i * MINUTE, "admin", result="failure")
    access_log_analyse()
    for i in range(30, 40):
        sign_in(T0 + i * MINUTE, "admin", result="failure")
    access_log_analyse()

    (burst,) = findings(Kind.SIGN_IN_FAILURE_BURST)
    assert burst.subject == f"burst:cc:admin:{first[0].pk}"
    # After a quiet hour, a new burst is a new finding.
    later = [sign_in(T0 + 2 * HOUR + i * SECOND, "admin", result="failure") for i in range(5)]
    access_log_analyse()
    assert [b.sign_in for b in findings(Kind.SIGN_IN_FAILURE_BURST)] == [first[0], later[0]]


def test_a_late_event_for_a_time_already_analysed_is_still_judged(lent, account, terminal, sign_in):
    lent.checkout(terminal, at=T0)
    login_id = current_login_id(account)
    sign_in(T0 + HOUR, login_id)
    first = access_log_analyse()
    assert (first.events, first.findings) == (1, 0)

    # Out of order and late: an export that reached us after the analysis, with a sign-in from
    # before the loan (stored after a later one).
    sign_in(T0 + 2 * HOUR, login_id)
    late = sign_in(T0 - 3 * HOUR, login_id)
    second = access_log_analyse()

    assert (second.first_event_id, second.events, second.findings) == (late.pk - 1, 2, 1)
    assert [f.sign_in for f in findings()] == [late]
    assert AccessLogAnalysis.objects.count() == 2


def test_running_again_finds_nothing_twice_and_reopens_nothing(
    lent, account, terminal, sign_in, security
):
    from compliance.services import discrepancy_resolve
    from core.models import AuditEvent

    sign_in(T0 - HOUR, current_login_id(account))
    sign_in(T0, "admin")
    assert access_log_analyse().findings == 2
    resolved = findings()[0]
    discrepancy_resolve(
        discrepancy=resolved, actor=security, outcome="found", note="保守作業で確認済み"
    )
    opened = AuditEvent.objects.filter(action="discrepancy.opened").count()

    assert access_log_analyse().findings == 0  # nothing new
    AccessLogAnalysis.objects.all().delete()  # as if the first run had never been recorded
    again = access_log_analyse()

    assert (again.events, again.findings) == (2, 0)
    assert len(findings()) == 2
    resolved.refresh_from_db()
    assert (resolved.status, resolved.outcome) == ("resolved", "found")
    assert AuditEvent.objects.filter(action="discrepancy.opened").count() == opened


def test_each_finding_and_the_analysis_are_in_the_audit_trail(account, sign_in, security):
    from core.models import AuditEvent

    event = sign_in(T0, "admin")
    analysis = access_log_analyse(actor=security)

    opened = AuditEvent.objects.get(action="discrepancy.opened")
    assert opened.details["sign_in"] == event.pk
    assert opened.details["kind"] == Kind.SIGN_IN_UNKNOWN_LOGIN_ID
    analysed = AuditEvent.objects.get(action="access_log.analysed")
    assert (analysed.object_id, analysed.actor) == (str(analysis.pk), security)
    assert analysed.details["discrepancies"] == {Kind.SIGN_IN_UNKNOWN_LOGIN_ID: 1}


def test_an_analysis_with_nothing_new_stores_nothing(db):
    from core.models import AuditEvent

    analysis = access_log_analyse()

    assert (analysis.events, analysis.findings) == (0, 0)
    assert not AuditEvent.objects.filter(action="access_log.analysed").exists()
    assert not AccessLogAnalysis.objects.exists()  # not a row every few minutes


def test_the_scheduled_task_analyses_and_is_in_the_beat_schedule(account, sign_in, settings):
    from compliance.tasks import analyse_access_logs

    entry = settings.CELERY_BEAT_SCHEDULE["analyse-access-logs"]
    assert entry["task"] == "compliance.tasks.analyse_access_logs"
    sign_in(T0, "admin")

    assert analyse_access_logs.delay().get() == 1
    assert len(findings()) == 1


def test_a_sign_in_finding_resolves_with_the_outcomes_of_its_kind(account, sign_in, security):
    from compliance.services import discrepancy_resolve, outcomes_for
    from core.errors import InvalidInput

    sign_in(T0 - HOUR, current_login_id(account))
    access_log_analyse()
    (finding,) = findings()
    assert outcomes_for(finding.kind) == ["found", "fixed"]
    assert "orphan_deleted" in outcomes_for(Kind.SIGN_IN_UNKNOWN_LOGIN_ID)
    with pytest.raises(InvalidInput):
        discrepancy_resolve(discrepancy=finding, actor=security, outcome="relocated", note="x")

    discrepancy_resolve(discrepancy=finding, actor=security, outcome="fixed", note="ID変更済み")
    finding.refresh_from_db()
    assert finding.status == "resolved"


def test_the_services_own_binds_to_its_directory_are_not_unknown_login_ids(
    lent, account, terminal, sign_in, target
):
    """slapd logs the connector's own administrator binds like anyone's."""
    type(target).objects.filter(pk=target.pk).update(ldap_bind_dn="cn=Admin,dc=nwterm,dc=test")
    lent.checkout(terminal, at=T0)
    own = sign_in(T0 + MINUTE, "admin", host="", address="127.0.0.1")
    stranger = sign_in(T0 + 2 * MINUTE, "root", host="", address="127.0.0.1")

    access_log_analyse()

    assert [f.sign_in for f in findings(Kind.SIGN_IN_UNKNOWN_LOGIN_ID)] == [stranger]
    assert own.discrepancies.count() == 0
