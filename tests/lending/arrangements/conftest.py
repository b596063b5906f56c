"""Two security officers (one proposes, the other decides), a contractor party, three terminals
in the `hq` cabinet with an account each, and an arrangement covering the first two."""

import datetime

import pytest
from django.utils import timezone

from core.roles import Role
from credentials.accounts import account_create
from credentials.targets import target_system_create
from lending import arrangements, services
from tests.factories import make_terminal, make_user


@pytest.fixture
def second_security(db, operator):
    return make_user("sue", Role.SECURITY, operator)


@pytest.fixture
def target(db):
    return target_system_create(
        actor=None, code="callcenter", name="コールセンターシステム", connector="local"
    )


def with_account(terminal, target, capture):
    # Tasks run in process (tests/conftest.py): the first rotation gives the account its secret.
    with capture(execute=True):
        account_create(actor=None, target_system=target, terminal=terminal)
    return terminal


@pytest.fixture
def make_terminals(cabinet, django_capture_on_commit_callbacks):
    def make(target, tags):
        return [
            with_account(
                make_terminal(location=cabinet, asset_tag=tag),
                target,
                django_capture_on_commit_callbacks,
            )
            for tag in tags
        ]

    return make


@pytest.fixture
def terminals(make_terminals, target):
    return make_terminals(target, ("NW-00001", "NW-00002", "NW-00003"))


def in_days(days: float, now=None) -> datetime.datetime:
    return (now or timezone.now()) + datetime.timedelta(days=days)


def propose(actor, parties=(), terminals=(), **changes):
    fields = dict(
        actor=actor,
        title="小売への暫定提供",
        reason="システム移行までの暫定運用",
        parties=parties,
        terminals=terminals,
        starts_at=in_days(-1),
        ends_at=in_days(10),
    )
    fields.update(changes)
    return arrangements.arrangement_propose(**fields)


@pytest.fixture
def proposed(security, contractor_org, terminals):
    return propose(security, [contractor_org], terminals[:2])


@pytest.fixture
def active(proposed, second_security):
    return arrangements.arrangement_approve(arrangement=proposed, actor=second_security)


def submit_under(arrangement, contractor, quantity=1, needed_days=5):
    return services.access_request_submit(
        actor=contractor,
        declaration=arrangement.declaration,
        work_site="本店 3F",
        quantity=quantity,
        operators=["山田 太郎"],
        purpose="暫定運用",
        needed_until=in_days(needed_days),
    )


@pytest.fixture
def lent(active, contractor, facilities, terminals, operator, django_capture_on_commit_callbacks):
    """The first terminal lent under the arrangement."""
    approver = make_user("aki", Role.FACILITIES, operator)
    with django_capture_on_commit_callbacks(execute=True):
        request = submit_under(active, contractor)
        services.access_request_approve(request=request, actor=approver)
    return services.loan_checkout(
        request=request,
        terminal=terminals[0],
        actor=facilities,
        operator_name="山田 太郎",
        acknowledged_name="山田 太郎",
    )
