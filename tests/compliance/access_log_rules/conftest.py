"""A terminal with an account on a target system, lent under a declaration at chosen moments
through the real services (so that its login-ID records, movements and loans are the ones the
service writes), and sign-ins stored as an ingestion would store them."""

import datetime
import hashlib
import itertools
from zoneinfo import ZoneInfo

import pytest
import time_machine

from compliance.models import (
    AccessLogIngestion,
    Discrepancy,
    IngestionSource,
    IngestionStatus,
    SignInEvent,
)
from credentials.accounts import account_create
from credentials.models import Account
from credentials.targets import target_system_create
from lending import services as lending
from tests.factories import make_user

JST = ZoneInfo("Asia/Tokyo")
UTC = datetime.UTC
# 09:00 in Tokyo the day after tomorrow: after the fixtures are made (at the real now), so that
# the history stays in order, and within the contractor's current supervision records.
T0 = datetime.datetime.combine(
    datetime.datetime.now(JST).date() + datetime.timedelta(days=2), datetime.time(9, 0), JST
)
SECOND = datetime.timedelta(seconds=1)
MINUTE = datetime.timedelta(minutes=1)
HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def target(db):
    return target_system_create(
        actor=None, code="cc", name="コールセンターシステム", connector="local"
    )


@pytest.fixture
def account(terminal, target, django_capture_on_commit_callbacks) -> Account:
    """The terminal's account, its first login ID issued (rotated) at the real now."""
    with django_capture_on_commit_callbacks(execute=True):
        account_create(actor=None, target_system=target, terminal=terminal)
    return Account.objects.get(terminal=terminal, target_system=target)


class Lending:
    """Hands the terminal out, takes it back, lifts the declaration: each at a chosen moment."""

    def __init__(self, *, site, security, contractor, facilities, approver, capture, cabinet):
        self.site, self.security, self.contractor = site, security, contractor
        self.facilities, self.approver, self.capture = facilities, approver, capture
        self.cabinet = cabinet
        self.declaration = lending.declaration_declare(
            actor=security, title="台風10号", sites=[site]
        )

    def approved_request(self, *, needed_until: datetime.datetime):
        with self.capture(execute=True):
            request = lending.access_request_submit(
                actor=self.contractor,
                declaration=self.declaration,
                work_site="千葉県館山市 配電復旧現場",
                quantity=1,
                operators=["山田 太郎"],
                purpose="停電復旧作業の顧客対応",
                needed_until=needed_until,
            )
            lending.access_request_approve(request=request, actor=self.approver)
        request.refresh_from_db()
        return request

    def checkout(self, terminal, *, at: datetime.datetime, due: datetime.datetime | None = None):
        request = self.approved_request(needed_until=due or at + datetime.timedelta(days=3))
        with time_machine.travel(at, tick=False), self.capture(execute=True):
            return lending.loan_checkout(
                request=request,
                terminal=terminal,
                actor=self.facilities,
                operator_name="山田 太郎",
                acknowledged_name="山田 太郎",
            )

    def give_back(self, loan, *, at: datetime.datetime):
        """The return, and the rotation it requests finishing at the same moment."""
        with time_machine.travel(at, tick=False):
            with self.capture(execute=True):
                lending.loan_return(
                    loan=loan,
                    actor=self.facilities,
                    condition="ok",
                    cards_returned=[],
                    return_location=self.cabinet,
                    handed_back_by="山田 太郎",
                    operator_signature="山田 太郎",
                    data_disposition="none_obtained",
                )
            lending.returned_terminals_settle()

    def lose(self, loan, *, at: datetime.datetime):
        with time_machine.travel(at, tick=False), self.capture(execute=True):
            lending.loan_mark_lost(loan=loan, actor=self.security, reason="車両ごと盗難")

    def lift(self, *, at: datetime.datetime):
        with time_machine.travel(at, tick=False):
            lending.declaration_lift(declaration=self.declaration, actor=self.security)


@pytest.fixture
def lent(
    site,
    cabinet,
    security,
    contractor,
    facilities,
    operator,
    account,
    django_capture_on_commit_callbacks,
) -> Lending:
    return Lending(
        site=site,
        security=security,
        contractor=contractor,
        facilities=facilities,
        approver=make_user("approver", "facilities", operator),
        capture=django_capture_on_commit_callbacks,
        cabinet=cabinet,
    )


_line = itertools.count(1)


@pytest.fixture
def sign_in(target):
    """`sign_in(at, login_id, ...)`: one sign-in as read from the target's log."""
    ingestion = AccessLogIngestion.objects.create(
        target_system=target,
        format="csv",
        source=IngestionSource.COMMAND,
        file_name="cc-access.csv",
        status=IngestionStatus.DONE,
    )

    def store(
        at: datetime.datetime,
        login_id: str,
        *,
        result: str = "success",
        host: str = "nwpc-0001",
        address: str | None = None,
        target_system=None,
    ) -> SignInEvent:
        n = next(_line)
        raw = f"{at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ},{login_id},{result},{host},{address or ''}"
        return SignInEvent.objects.create(
            target_system=target_system or target,
            ingestion=ingestion,
            occurred_at=at,
            login_id=login_id,
            result=result,
            source_host=host,
            source_address=address,
            line_number=n,
            raw_line=raw,
            fingerprint=hashlib.sha256(f"{n}|{raw}".encode()).hexdigest(),
        )

    return store


def findings(kind: str | None = None) -> list[Discrepancy]:
    qs = Discrepancy.objects.filter(kind__startswith="sign_in")
    return list((qs.filter(kind=kind) if kind else qs).order_by("pk"))
