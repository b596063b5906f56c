"""A declared disaster over the `hq` site, two terminals in its cabinet with an account each
(first rotation done) and a card on the first, the contractor's request for two terminals
approved by `approver`, and helpers to drive the pages as each persona."""

import datetime

import pytest
from django.utils import timezone

from core.roles import Role
from credentials.accounts import account_create
from credentials.targets import target_system_create
from lending import services
from tests.factories import make_card, make_terminal, make_user


@pytest.fixture
def target(db):
    return target_system_create(
        actor=None, code="callcenter", name="コールセンターシステム", connector="local"
    )


def with_account(terminal, target, django_capture_on_commit_callbacks):
    # Tasks run in process (tests/conftest.py): the first rotation gives the account its secret.
    with django_capture_on_commit_callbacks(execute=True):
        account_create(actor=None, target_system=target, terminal=terminal)
    return terminal


@pytest.fixture
def terminals(cabinet, target, django_capture_on_commit_callbacks):
    return [
        with_account(
            make_terminal(location=cabinet, asset_tag=tag),
            target,
            django_capture_on_commit_callbacks,
        )
        for tag in ("NW-00001", "NW-00002")
    ]


@pytest.fixture
def card(cabinet, terminals):
    return make_card(location=cabinet, terminal=terminals[0], card_number="IC-000001")


@pytest.fixture
def approver(operator):
    """The facilities user who approves; `facilities` (fiona) hands out at the counter."""
    return make_user("aki", Role.FACILITIES, operator)


@pytest.fixture
def declaration(site, security):
    return services.declaration_declare(actor=security, title="台風10号", sites=[site])


def submit(contractor, declaration, *, quantity=2):
    return services.access_request_submit(
        actor=contractor,
        declaration=declaration,
        work_site="千葉県館山市 配電復旧現場",
        quantity=quantity,
        operators=["山田 太郎", "佐藤 花子"],
        purpose="停電復旧作業の顧客対応",
        needed_until=timezone.now() + datetime.timedelta(days=3),
    )


@pytest.fixture
def approved(declaration, contractor, approver, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request = submit(contractor, declaration)
        return services.access_request_approve(request=request, actor=approver)


@pytest.fixture
def loan(approved, terminals, card, facilities):
    return services.loan_checkout(
        request=approved,
        terminal=terminals[0],
        actor=facilities,
        operator_name="山田 太郎",
        acknowledged_name="山田 太郎",
    )


@pytest.fixture
def as_user(client, settings):
    """Sign the test client in as a persona (None: stay anonymous). Pages answer in English
    here, as the tests read them; `lang="ja"` keeps the default Japanese."""

    def sign_in(user, lang: str = "en"):
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = lang
        if user is not None:
            client.force_login(user)
        return client

    return sign_in
