"""Contractor supervision: a declared disaster over `hq`, a terminal with an account in its
cabinet, and a contractor that is NOT under supervision yet (no report, no training), with its
user, so that each test records what it needs (tests.factories makes the other contractors
supervised from the start)."""

import datetime

import pytest
from django.utils import timezone

from core.models import Organization
from core.roles import Role
from credentials.accounts import account_create
from credentials.targets import target_system_create
from lending import services, supervision
from tests.factories import OrganizationFactory, make_terminal, make_user

OPERATOR = "山田 太郎"


def days(n: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=n)


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def firm(db) -> Organization:
    """A contractor with no supervision records."""
    return OrganizationFactory(
        code="minato-koji", name="港工事", kind=Organization.Kind.CONTRACTOR, supervised=False
    )


@pytest.fixture
def firm_user(firm):
    user = make_user("mina", Role.CONTRACTOR, firm)
    user.email = "mina@minato.example"
    user.save(update_fields=["email"])
    return user


@pytest.fixture
def approver(operator):
    return make_user("aki", Role.FACILITIES, operator)


@pytest.fixture
def declaration(site, security):
    return services.declaration_declare(actor=security, title="台風10号", sites=[site])


@pytest.fixture
def terminal(cabinet, django_capture_on_commit_callbacks):
    target = target_system_create(
        actor=None, code="callcenter", name="コールセンターシステム", connector="local"
    )
    terminal = make_terminal(location=cabinet, asset_tag="NW-00001")
    with django_capture_on_commit_callbacks(execute=True):
        account_create(actor=None, target_system=target, terminal=terminal)
    return terminal


def accepted_report(contractor, security, *, start=-30, end=335):
    report = supervision.contractor_report_submit(
        actor=security,
        contractor=contractor,
        period_start=days(start),
        period_end=days(end),
        answers={code: "yes" for code, _question in supervision.CHECKLIST},
    )
    return supervision.contractor_report_accept(report=report, actor=security)


def training(contractor, security, name=OPERATOR, *, expires=300, signed=True):
    return supervision.operator_training_record(
        actor=security,
        contractor=contractor,
        operator_name=name,
        course="情報セキュリティ研修",
        completed_on=days(-10),
        expires_on=days(expires),
        undertaking_signed_on=days(-10) if signed else None,
    )


def submit(user, declaration, operators=(OPERATOR,)):
    return services.access_request_submit(
        actor=user,
        declaration=declaration,
        work_site="千葉県館山市 配電復旧現場",
        quantity=1,
        operators=list(operators),
        purpose="停電復旧作業の顧客対応",
        needed_until=timezone.now() + datetime.timedelta(days=3),
    )


@pytest.fixture
def approved(firm, firm_user, security, declaration, approver, django_capture_on_commit_callbacks):
    """An approved request of the firm, made while its report and the operator's training were
    current (the tests then take one or the other away)."""
    accepted_report(firm, security)
    training(firm, security)
    with django_capture_on_commit_callbacks(execute=True):
        request = submit(firm_user, declaration)
        return services.access_request_approve(request=request, actor=approver)


def hand_out(request, terminal, actor, name=OPERATOR, **more):
    return services.loan_checkout(
        request=request,
        terminal=terminal,
        actor=actor,
        operator_name=name,
        acknowledged_name=name,
        **more,
    )
