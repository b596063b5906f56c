"""A week in the life of the `hq` site, laid out around the report period 10-12 November 2026
(Asia/Tokyo): a loan journey inside it, things one second before it starts and at the very
moment after it ends, and helpers to read a produced report back."""

import datetime
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils.translation import gettext_lazy

from compliance import services as stocktakes
from compliance.audit_report import read_csv
from compliance.models import (
    AccessLogIngestion,
    AuditReport,
    Discrepancy,
    DiscrepancyKind,
    DiscrepancyOutcome,
    SignInEvent,
)
from core.models import User
from core.phrases import define
from credentials.accounts import account_create, account_delete
from credentials.models import Account
from credentials.rotation import rotation_request
from credentials.targets import target_system_create
from lending import services as lending
from lending.models import ContractorReport, Loan, OperatorTraining
from terminals import services as inventory
from terminals.models import Terminal
from tests.factories import make_terminal, make_user

# What the rules store as "expected instead": a phrase, in words when read (core.phrases).
EXPECTED_LOAN = define(
    "tests.audit_report.expected_loan", gettext_lazy("An open loan of %(terminal)s.")
)
TOKYO = ZoneInfo("Asia/Tokyo")
PERIOD = (datetime.date(2026, 11, 10), datetime.date(2026, 11, 12))
# When the report is produced: a week after, so the period is wholly in the past.
PRODUCED_AT = datetime.datetime(2026, 11, 20, 9, 0, tzinfo=TOKYO)


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime.datetime:
    return datetime.datetime(2026, 11, day, hour, minute, second, tzinfo=TOKYO)


def travel(moment: datetime.datetime):
    return time_machine.travel(moment, tick=False)


@dataclass
class Journey:
    loan: Loan
    lent: Terminal
    account: Account
    before_account: Account  # created one second before the period
    after_account: Account  # created at the midnight that ends it
    short_lived: Account  # created and deleted inside it
    stocktake_finding: Discrepancy
    sign_in_finding: Discrepancy
    resolver: User


@pytest.fixture
def journey(
    site, cabinet, operator, security, contractor, facilities, django_capture_on_commit_callbacks
) -> Journey:
    run = django_capture_on_commit_callbacks
    approver = make_user("aki", "facilities", operator)
    # The contractor's report and trainings (tests/factories.py) date from the real today;
    # the journey happens on fixed days, which they must cover.
    covered_from = datetime.date(2026, 1, 1)
    ContractorReport.objects.filter(contractor=contractor.organization).update(
        period_start=covered_from
    )
    OperatorTraining.objects.filter(contractor=contractor.organization).update(
        completed_on=covered_from, undertaking_signed_on=covered_from
    )
    with travel(at(9, 10)):
        target = target_system_create(
            actor=None, code="callcenter", name="コールセンターシステム", connector="local"
        )
        lent = make_terminal(location=cabinet, asset_tag="NW-00001", hostname="nwpc-0001")
        spare = make_terminal(location=cabinet, asset_tag="NW-00002", hostname="nwpc-0002")
        with run(execute=True):
            account = account_create(actor=None, target_system=target, terminal=lent)
    with travel(at(9, 23, 59, 59)), run(execute=True):
        # One second too early: in no section.
        before_account = account_create(actor=security, target_system=target, terminal=spare)
        inventory.terminal_send_to_maintenance(terminal=spare, actor=security, reason="点検")

    # The period begins at local midnight: the request is its first instant.
    with travel(at(10)), run(execute=True):
        declaration = lending.declaration_declare(actor=security, title="台風10号", sites=[site])
        request = lending.access_request_submit(
            actor=contractor,
            declaration=declaration,
            work_site="千葉県館山市 配電復旧現場",
            quantity=1,
            operators=["山田 太郎"],
            purpose="停電復旧作業の顧客対応",
            needed_until=at(13),
        )
    with travel(at(10, 9)), run(execute=True):
        request = lending.access_request_approve(request=request, actor=approver)
    with travel(at(10, 10)):
        loan = lending.loan_checkout(
            request=request,
            terminal=lent,
            actor=facilities,
            operator_name="山田 太郎",
            acknowledged_name="山田 太郎",
        )
    with travel(at(10, 10, 5)):
        lending.loan_reveal(loan=loan, actor=contractor)
    with travel(at(11, 15)), run(execute=True):  # the rotation runs after the commit
        lending.loan_return(
            loan=loan,
            actor=facilities,
            condition="ok",
            cards_returned=[],
            return_location=cabinet,
            handed_back_by="山田 太郎",
            operator_signature="山田太郎",
            data_disposition="none_obtained",
        )
    with travel(at(11, 15, 30)):
        lending.returned_terminals_settle()

    # A stock-take nobody scanned: each terminal it expected is missing; one is resolved.
    with travel(at(11, 16)):
        stocktake = stocktakes.stocktake_open(site=site, actor=security, reason="manual")
        stocktakes.stocktake_close(stocktake=stocktake, actor=security)
    finding = stocktake.discrepancies.get(terminal=lent)
    with travel(at(11, 17)):
        stocktakes.discrepancy_resolve(
            discrepancy=finding, actor=security, outcome=DiscrepancyOutcome.FOUND, note="棚の奥"
        )

    # An access-log finding, made directly (the rules are another module's), then resolved.
    with travel(at(12, 8, 30)):
        ingestion = AccessLogIngestion.objects.create(
            target_system=target, format="csv", source="upload", created_by=security
        )
        sign_in = SignInEvent.objects.create(
            target_system=target,
            ingestion=ingestion,
            occurred_at=at(12, 8),
            login_id="nw-old-id",
            result="success",
            source_host="retail-pc-7",
            line_number=42,
            raw_line="2026-11-12T08:00:00+09:00,nw-old-id,success,retail-pc-7",
            fingerprint="f" * 64,
        )
        sign_in_finding = Discrepancy.objects.create(
            kind=DiscrepancyKind.SIGN_IN_NOT_LENT,
            subject=f"sign-in {sign_in.pk}",
            sign_in=sign_in,
            terminal=lent,
            account=account,
            details={"expected": EXPECTED_LOAN(terminal="NW-00001").stored()},
        )
    with travel(at(12, 9)):
        stocktakes.discrepancy_resolve(
            discrepancy=sign_in_finding,
            actor=security,
            outcome=DiscrepancyOutcome.FIXED,
            note="小売部門に確認済み",
        )

    # An account created and deleted inside the period, on a third terminal.
    with travel(at(12, 12)), run(execute=True):
        third = make_terminal(location=cabinet, asset_tag="NW-00003", hostname="nwpc-0003")
        short_lived = account_create(actor=security, target_system=target, terminal=third)
    with travel(at(12, 23, 59, 59)):
        short_lived.refresh_from_db()
        account_delete(account=short_lived, actor=security)

    # The period ends at the next local midnight: none of this is in it.
    with travel(at(13)), run(execute=True):
        fourth = make_terminal(location=cabinet, asset_tag="NW-00004", hostname="nwpc-0004")
        after_account = account_create(actor=security, target_system=target, terminal=fourth)
        account.refresh_from_db()
        rotation_request(account=account, reason="forced", actor=security)
    return Journey(
        loan=loan,
        lent=lent,
        account=account,
        before_account=before_account,
        after_account=after_account,
        short_lived=short_lived,
        stocktake_finding=finding,
        sign_in_finding=sign_in_finding,
        resolver=security,
    )


def section_rows(report: AuditReport, name: str) -> list[dict[str, str]]:
    """A stored section's rows as dicts keyed by its CSV header."""
    header, rows = read_csv(report.sections.get(name=name).csv)
    return [dict(zip(header, row, strict=True)) for row in rows]
