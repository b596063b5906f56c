"""OpenLDAP slapd stats lines: BIND paired with its RESULT, the address from the ACCEPT, the
time from the `-d stats` prefix or from syslog; and against a real slapd, its own log."""

import datetime
import io

import pytest
from django.utils import timezone
from ldap3 import NONE, Connection, Server

from compliance.access_logs.parsers import Malformed, MappingSpec, ParsedEvent, parse_slapd
from compliance.models import Discrepancy, DiscrepancyKind, SignInEvent
from credentials.accounts import account_create
from credentials.models import Account
from credentials.targets import target_system_create
from lending import services as lending
from terminals.models import TerminalAddress
from tests.compliance.access_logs.conftest import ingest
from tests.factories import make_terminal, make_user
from tests.support.slapd import Slapd

UTC = datetime.UTC
TOKYO = MappingSpec(time_zone="Asia/Tokyo", login_id_prefix="nw")

# What slapd 2.5 writes with `-d stats` (from a run of tests/support/slapd.py, the DNs and the
# RESULTs' timings shortened).
DEBUG_LOG = """\
6b0c43f9.1c2f1155 0x7ff6d8c21200 slapd starting
6b0c43f9.22015e45 0x7ff6d4bfd6c0 conn=1003 fd=11 ACCEPT from IP=192.0.2.7:40199 (IP=127.0.0.1:389)
6b0c43f9.22053070 0x7ff6d53fe6c0 conn=1003 op=0 BIND dn="uid=nwabc123,ou=p,dc=t" method=128
6b0c43f9.2205c478 0x7ff6d53fe6c0 conn=1003 op=0 BIND dn="uid=nwabc123,ou=p,dc=t" mech=SIMPLE ssf=0
6b0c43f9.22062fc6 0x7ff6d53fe6c0 conn=1003 op=0 RESULT tag=97 err=0 qtime=0.000009 text=
6b0c43f9.220a54ff 0x7ff6d4bfd6c0 conn=1004 fd=12 ACCEPT from IP=192.0.2.8:51787 (IP=127.0.0.1:389)
6b0c43fa.220e6997 0x7ff6d53fe6c0 conn=1004 op=0 BIND dn="uid=NWold999,ou=p,dc=t" method=128
6b0c43fa.21d644d0 0x7ff6d4bfd6c0 conn=1003 op=1 RESULT tag=105 err=0 qtime=0.000006 text=
6b0c43fa.2215213f 0x7ff6d53fe6c0 conn=1004 op=0 RESULT tag=97 err=49 qtime=0.000005 text=
"""


def parse(text: str, spec: MappingSpec = TOKYO, context=None) -> list:
    context = context or datetime.datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    return list(
        parse_slapd(io.BytesIO(text.encode()), spec=spec, target_code="dir", context_time=context)
    )


def test_binds_pair_with_their_results_by_connection_and_operation():
    success, failure = parse(DEBUG_LOG)
    assert isinstance(success, ParsedEvent) and isinstance(failure, ParsedEvent)
    assert (success.login_id, success.result, success.source_address) == (
        "nwabc123",
        "success",
        "192.0.2.7",
    )
    assert success.occurred_at == datetime.datetime.fromtimestamp(
        0x6B0C43F9 + 0x22053070 / 1e9, UTC
    )
    assert success.line_number == 3
    # The login ID as the service issues them; the raw lines are the BIND and its RESULT.
    assert (failure.login_id, failure.result, failure.source_address) == (
        "nwold999",
        "failure",
        "192.0.2.8",
    )
    assert failure.raw_line.splitlines() == [DEBUG_LOG.splitlines()[6], DEBUG_LOG.splitlines()[8]]
    assert success.fingerprint != failure.fingerprint


def test_syslog_lines_without_a_year_take_it_from_the_file_and_the_mapping_zone():
    log = (
        "Nov 29 10:00:01 ldap1 slapd[812]: conn=5 fd=9 ACCEPT from IP=198.51.100.4:1234 "
        "(IP=0.0.0.0:389)\n"
        'Nov 29 10:00:01 ldap1 slapd[812]: conn=5 op=0 BIND dn="uid=nwabc123,ou=p" method=128\n'
        "Nov 29 10:00:01 ldap1 slapd[812]: conn=5 op=0 RESULT tag=97 err=0 text=\n"
        'Dec 31 23:59:59 ldap1 slapd[812]: conn=6 op=0 BIND dn="uid=nwdef456,ou=p" method=128\n'
        "Dec 31 23:59:59 ldap1 slapd[812]: conn=6 op=0 RESULT tag=97 err=49 text=\n"
    )
    today, last_year = parse(log)
    assert today.occurred_at == datetime.datetime(2026, 11, 29, 1, 0, 1, tzinfo=UTC)
    assert today.source_address == "198.51.100.4"
    # A stamp later than the file's context is last year's (a December log read in November).
    assert last_year.occurred_at == datetime.datetime(2025, 12, 31, 14, 59, 59, tzinfo=UTC)
    assert last_year.source_address is None  # its ACCEPT was before this file


def test_rfc3339_syslog_lines_keep_their_offset():
    log = (
        '2026-11-29T10:00:01.5+09:00 ldap1 slapd[1]: conn=5 op=0 BIND dn="uid=nwabc1" method=128\n'
        "2026-11-29T10:00:01.6+09:00 ldap1 slapd[1]: conn=5 op=0 RESULT tag=97 err=0 text=\n"
    )
    (event,) = parse(log)
    assert event.occurred_at == datetime.datetime(2026, 11, 29, 1, 0, 1, 500000, tzinfo=UTC)


def test_anonymous_binds_other_operations_and_other_programs_are_no_sign_ins():
    log = (
        "Nov 29 10:00:01 ldap1 sshd[5]: Accepted password for root\n"
        'Nov 29 10:00:01 ldap1 slapd[1]: conn=5 op=0 BIND dn="" method=128\n'
        "Nov 29 10:00:01 ldap1 slapd[1]: conn=5 op=0 RESULT tag=97 err=0 text=\n"
        'Nov 29 10:00:01 ldap1 slapd[1]: conn=5 op=1 SRCH base="dc=x" scope=2\n'
        "Nov 29 10:00:01 ldap1 slapd[1]: conn=5 op=1 RESULT tag=101 err=0 text=\n"
    )
    assert parse(log) == []


def test_a_bind_left_without_its_result_and_a_bad_time_are_malformed_lines():
    log = (
        'Nov 29 10:00:01 ldap1 slapd[1]: conn=5 op=0 BIND dn="uid=nwabc123" method=128\n'
        'Foo 99 10:00:01 ldap1 slapd[1]: conn=6 op=0 BIND dn="uid=nwabc123" method=128\n'
        'Nov 29 10:00:01 ldap1 slapd[1]: conn=7 op=0 BIND dn="uid=,ou=x" method=128\n'
        "Nov 29 10:00:01 ldap1 slapd[1]: conn=7 op=0 RESULT tag=97 err=0 text=\n"
    )
    problems = {item.line_number: item.reason for item in parse(log)}
    assert all(isinstance(item, Malformed) for item in parse(log))
    assert "RESULT" in problems[1]
    assert "time" in problems[2]
    assert "login ID" in problems[3]


def test_an_escaped_dn_gives_its_login_id_unescaped():
    log = (
        'Nov 29 10:00:01 h slapd[1]: conn=5 op=0 BIND dn="uid=nw\\2Cx\\+y,ou=p" method=128\n'
        "Nov 29 10:00:01 h slapd[1]: conn=5 op=0 RESULT tag=97 err=0 text=\n"
    )
    (event,) = parse(log)
    assert event.login_id == "nw,x+y"


# A real slapd --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stats_slapd():
    missing = Slapd.missing()
    if missing:
        pytest.fail(f"slapd is needed: {', '.join(missing)} is missing", pytrace=False)
    with Slapd(stats_log=True) as server:
        yield server


def bind(slapd: Slapd, base_dn: str, login_id: str, password: str) -> bool:
    conn = Connection(
        Server(slapd.url, get_info=NONE, connect_timeout=2),
        user=f"uid={login_id},{base_dn}",
        password=password,
        receive_timeout=5,
    )
    try:
        return conn.bind()
    finally:
        conn.unbind()


def test_a_real_slapd_log_shows_the_loan_sign_in_and_the_old_id_tried_after_the_return(
    stats_slapd,
    site,
    cabinet,
    security,
    facilities,
    contractor,
    operator,
    django_capture_on_commit_callbacks,
):
    branch = stats_slapd.new_branch()
    ldap = stats_slapd.settings(base_dn=branch)
    target = target_system_create(
        actor=None,
        code="directory",
        name="ディレクトリ",
        connector="ldap",
        ldap_url=ldap.url,
        ldap_base_dn=ldap.base_dn,
        ldap_bind_dn=ldap.bind_dn,
        ldap_bind_password=ldap.bind_password,
    )
    terminal = make_terminal(location=cabinet, hostname="nwpc-0101")
    # The test client signs in from 127.0.0.1: that is this terminal's address.
    TerminalAddress.objects.create(terminal=terminal, address="127.0.0.1")
    with django_capture_on_commit_callbacks(execute=True):
        account_create(actor=None, target_system=target, terminal=terminal)
    declaration = lending.declaration_declare(actor=security, title="台風10号", sites=[site])
    approver = make_user("approver", "facilities", operator)
    with django_capture_on_commit_callbacks(execute=True):
        request = lending.access_request_submit(
            actor=contractor,
            declaration=declaration,
            work_site="千葉県館山市",
            quantity=1,
            operators=["山田 太郎"],
            purpose="停電復旧",
            needed_until=timezone.now() + datetime.timedelta(days=1),
        )
        request = lending.access_request_approve(request=request, actor=approver)
    loan = lending.loan_checkout(
        request=request,
        terminal=terminal,
        actor=facilities,
        operator_name="山田 太郎",
        acknowledged_name="山田 太郎",
    )
    ((_account, old_login_id, old_password),) = [
        (a, login_id, password)
        for a, login_id, password in lending.loan_reveal(loan=loan, actor=contractor)
    ]
    assert bind(stats_slapd, branch, old_login_id, old_password)  # during the loan

    with django_capture_on_commit_callbacks(execute=True):
        lending.loan_return(
            loan=loan,
            actor=facilities,
            condition="ok",
            cards_returned=[],
            return_location=cabinet,
            handed_back_by="山田 太郎",
            operator_signature="山田 太郎",
            data_disposition="none_obtained",
        )
    new_login_id = Account.objects.get(terminal=terminal).login_id
    assert new_login_id != old_login_id  # rotated on the return
    assert not bind(stats_slapd, branch, old_login_id, old_password)  # the directory refuses

    log = stats_slapd.log_path.read_bytes()
    ingestion = ingest(target, log, format="slapd", name="slapd.log")
    assert ingestion.status == "done" and ingestion.malformed == 0
    signed_in = list(
        SignInEvent.objects.filter(target_system=target, login_id=old_login_id).order_by(
            "occurred_at"
        )
    )
    assert [(e.result, e.source_address) for e in signed_in] == [
        ("success", "127.0.0.1"),
        ("failure", "127.0.0.1"),
    ]
    assert signed_in[0].occurred_at < signed_in[1].occurred_at
    assert f'BIND dn="uid={old_login_id},{branch}"' in signed_in[0].raw_line

    # The loan's sign-ins: during its window, with the login ID its terminal had then.
    from compliance.access_logs.selectors import SignInFilter, sign_in_list

    by_loan = SignInFilter({"loan": str(loan.pk)}, queryset=sign_in_list()).qs
    assert list(by_loan) == [signed_in[0]]
    by_terminal = SignInFilter({"terminal": terminal.asset_tag}, queryset=sign_in_list()).qs
    assert signed_in[0] in by_terminal and signed_in[1] not in by_terminal

    # Ingesting the same log again (a copy job that runs twice) stores nothing new.
    assert ingest(target, log, format="slapd").accepted == 0

    from compliance.access_log_rules import access_log_analyse

    access_log_analyse()
    findings = Discrepancy.objects.filter(sign_in__in=signed_in)
    assert not findings.filter(sign_in=signed_in[0]).exists()
    kinds = set(findings.filter(sign_in=signed_in[1]).values_list("kind", flat=True))
    assert kinds & {DiscrepancyKind.SIGN_IN_OLD_LOGIN_ID, DiscrepancyKind.SIGN_IN_UNKNOWN_LOGIN_ID}
