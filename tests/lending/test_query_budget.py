"""Check-out and return through the API, counted in SQL statements (issue #10's diet): each
stays within a fixed budget whether the terminal has 1 account or 20, uses no savepoint, and
a token's last use is written at most once a minute.

The tests run in real transactions (`transaction=True`), as a request does: inside the test's
own transaction every `atomic` of the services would be a savepoint. BEGIN and COMMIT are not
counted (on PostgreSQL the driver sends them without Django seeing them); savepoints are."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import ApiToken
from core.roles import Role
from core.services import api_token_issue
from credentials.models import Account, AccountState, Rotation
from credentials.targets import target_system_create
from lending import services
from lending.models import Loan, LoanStatus
from terminals.models import AccessCard, Terminal
from tests.factories import make_card, make_terminal, make_user
from tests.lending.api.helpers import checkout_body, submit, with_accounts

pytestmark = pytest.mark.django_db(transaction=True)

# Issue #10's goal: at most 20 statements each, with 1 and with 20 accounts on the terminal (an
# audit event is its one INSERT, sealed later; several events of one step are one INSERT).
BUDGET = 20


@pytest.fixture
def approver(operator):
    return make_user("aki", Role.FACILITIES, operator)


@pytest.fixture
def declaration(site, security):
    return services.declaration_declare(actor=security, title="台風10号", sites=[site])


@pytest.fixture
def counter(api, facilities):
    """The API client of the facilities user at the counter, with an API token."""
    api.credentials(
        HTTP_AUTHORIZATION=f"Token {api_token_issue(user=facilities)}", HTTP_ACCEPT_LANGUAGE="en"
    )
    return api


def terminal_with(accounts: int, cabinet, capture) -> Terminal:
    targets = [
        target_system_create(actor=None, code=f"target-{n:02d}", name=f"T{n}", connector="local")
        for n in range(accounts)
    ]
    return with_accounts(make_terminal(location=cabinet, asset_tag="NW-09999"), targets, capture)


def sent(captured) -> list[str]:
    return [
        query["sql"]
        for query in captured.captured_queries
        if query["sql"].split(" ", 1)[0].upper() not in ("BEGIN", "COMMIT")
    ]


@pytest.fixture
def lent(declaration, contractor, approver, cabinet, django_capture_on_commit_callbacks):
    def lend(accounts: int):
        terminal = terminal_with(accounts, cabinet, django_capture_on_commit_callbacks)
        request = services.access_request_approve(
            request=submit(contractor, declaration), actor=approver
        )
        return terminal, request

    return lend


def keep_dispatched(monkeypatch) -> list[int]:
    """From now on, rotations handed to the workers after a commit are kept here instead: a
    worker's statements are the rotation's budget, not the request's."""
    sent: list[int] = []
    monkeypatch.setattr(
        "credentials.rotation.rotations_dispatch",
        lambda *, rotation_ids: sent.extend(rotation_ids),
    )
    return sent


@pytest.mark.parametrize("accounts", [1, 20])
def test_a_check_out_and_its_return_stay_within_their_statement_budgets(
    accounts, counter, lent, cabinet, monkeypatch
):
    terminal, request = lent(accounts)
    dispatched = keep_dispatched(monkeypatch)
    counter.get("/api/v1/terminals/")  # the token's last use is written now, not below

    with CaptureQueriesContext(connection) as out:
        response = counter.post("/api/v1/loans/", checkout_body(request, terminal), format="json")
    checkout = sent(out)  # now: the next request clears the connection's log of queries
    assert response.status_code == 201, response.content
    answer = response.json()
    loan_id = answer["id"]
    assert (answer["status"], answer["terminal"], len(answer["accounts"])) == (
        "open",
        "NW-09999",
        accounts,
    )
    assert Account.objects.filter(terminal=terminal, state=AccountState.UNLOCKED).count() == (
        accounts
    )
    # The lean answer is the loan as the API shows it.
    assert answer == counter.get(f"/api/v1/loans/{loan_id}/").json()
    with CaptureQueriesContext(connection) as back:
        response = counter.post(
            f"/api/v1/loans/{loan_id}/return/",
            {
                "condition": "ok",
                "return_location": cabinet.code,
                "handed_back_by": "山田 太郎",
                "operator_signature": "山田 太郎",
                "data_disposition": "destroyed",
            },
            format="json",
        )
    give_back = sent(back)
    assert response.status_code == 200, response.content

    assert not [sql for sql in checkout + give_back if "SAVEPOINT" in sql.upper()]
    assert len(checkout) <= BUDGET, f"{len(checkout)} statements:\n" + "\n".join(checkout)
    assert len(give_back) <= BUDGET, f"{len(give_back)} statements:\n" + "\n".join(give_back)
    # Behaviour: the loan came back, and every account is locked for its rotation.
    assert Loan.objects.get(pk=loan_id).status == LoanStatus.RETURNED
    assert response.json()["return_confirmation"]["return_location"] == cabinet.code
    assert response.json() == counter.get(f"/api/v1/loans/{loan_id}/").json()
    assert Rotation.objects.filter(account__terminal=terminal, reason="return").count() == accounts
    assert len(dispatched) == accounts
    assert not Account.objects.filter(terminal=terminal, state=AccountState.UNLOCKED).exists()
    assert len(response.json()["accounts"]) == accounts


def test_a_tokens_last_use_is_written_at_most_once_a_minute(counter, facilities):
    def updates_of_the_token() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert counter.get("/api/v1/terminals/").status_code == 200
        return sum(1 for sql in sent(captured) if sql.startswith('UPDATE "core_apitoken"'))

    assert updates_of_the_token() == 1  # first use
    first = ApiToken.objects.get(user=facilities).last_used_at
    assert updates_of_the_token() == 0  # again within the minute
    assert ApiToken.objects.get(user=facilities).last_used_at == first

    ApiToken.objects.filter(user=facilities).update(
        last_used_at=timezone.now() - datetime.timedelta(seconds=61)
    )
    assert updates_of_the_token() == 1
    assert ApiToken.objects.get(user=facilities).last_used_at > first


def test_the_answers_with_a_card_are_the_loan_as_the_api_shows_it(counter, lent, cabinet):
    terminal, request = lent(1)
    make_card(location=cabinet, terminal=terminal, card_number="IC-000009")

    out = counter.post("/api/v1/loans/", checkout_body(request, terminal), format="json")

    assert out.status_code == 201, out.content
    loan_id = out.json()["id"]
    assert out.json()["cards"] == ["IC-000009"]
    assert out.json() == counter.get(f"/api/v1/loans/{loan_id}/").json()
    back = counter.post(
        f"/api/v1/loans/{loan_id}/return/",
        {
            "condition": "ok",
            "cards_returned": ["IC-000009"],
            "return_location": cabinet.code,
            "handed_back_by": "山田 太郎",
            "operator_signature": "山田 太郎",
            "data_disposition": "destroyed",
        },
        format="json",
    )
    assert back.status_code == 200, back.content
    assert back.json()["return_confirmation"]["cards_returned"] == ["IC-000009"]
    assert back.json() == counter.get(f"/api/v1/loans/{loan_id}/").json()
    assert AccessCard.objects.get(card_number="IC-000009").status == AccessCard.Status.IN_STORAGE
