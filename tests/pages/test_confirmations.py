"""Issue #9: actions that cannot be undone or touch many things ask first. A POST without
confirm=1 shows what the action will touch, counted now, and writes nothing; pressing Confirm
(which re-posts the same fields with confirm=1) acts; Cancel goes back to where it came from."""

import datetime
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance import services as stocktakes
from compliance.models import Discrepancy, StockTake
from core.roles import Role
from credentials.accounts import account_create
from credentials.models import Account, Rotation
from credentials.targets import target_system_create
from lending import services
from lending.models import DeclarationStatus, LoanStatus, RequestStatus
from terminals.models import Terminal
from tests.factories import make_card, make_terminal, make_user
from tests.support.db import nothing_written


class _ConfirmForm(HTMLParser):
    """The confirmation page's form: where it posts, its hidden fields, its Cancel link."""

    def __init__(self):
        super().__init__()
        self.action, self.fields, self.cancel, self._inside = None, [], None, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and "confirmation" in (attrs.get("class") or "").split():
            self.action, self._inside = attrs["action"], True
        elif self._inside and tag == "input" and attrs.get("type") == "hidden":
            self.fields.append((attrs["name"], attrs.get("value") or ""))
        elif self._inside and tag == "a":
            self.cancel = attrs["href"]

    def handle_endtag(self, tag):
        if tag == "form":
            self._inside = False


def confirm_form(response) -> _ConfirmForm:
    parser = _ConfirmForm()
    parser.feed(response.content.decode())
    assert parser.action, "the response is not a confirmation page"
    return parser


def press_confirm(client, response):
    """What the browser sends when the user presses Confirm."""
    form = confirm_form(response)
    data: dict[str, list[str]] = {}
    for name, value in form.fields:
        if name != "csrfmiddlewaretoken":
            data.setdefault(name, []).append(value)
    return client.post(form.action, data)


@pytest.fixture
def english(client):
    client.cookies["django_language"] = "en"
    return client


@pytest.fixture
def target(db):
    return target_system_create(
        actor=None, code="callcenter", name="コールセンターシステム", connector="local"
    )


@pytest.fixture
def terminals(cabinet, target, django_capture_on_commit_callbacks):
    """Two terminals with an account each (the first rotation, in process, gives its secret)."""
    made = []
    for tag in ("NW-00001", "NW-00002"):
        terminal = make_terminal(location=cabinet, asset_tag=tag)
        with django_capture_on_commit_callbacks(execute=True):
            account_create(actor=None, target_system=target, terminal=terminal)
        made.append(terminal)
    return made


@pytest.fixture
def declaration(site, security):
    return services.declaration_declare(actor=security, title="台風10号", sites=[site])


def submit(contractor, declaration):
    return services.access_request_submit(
        actor=contractor,
        declaration=declaration,
        work_site="千葉県館山市 配電復旧現場",
        quantity=1,
        operators=["山田 太郎"],
        purpose="停電復旧作業の顧客対応",
        needed_until=timezone.now() + datetime.timedelta(days=3),
    )


@pytest.fixture
def loan(declaration, contractor, operator, terminals, cabinet, facilities):
    """An open loan of NW-00001 with its card IC-000001."""
    make_card(location=cabinet, terminal=terminals[0], card_number="IC-000001")
    approver = make_user("aki", Role.FACILITIES, operator)
    request = services.access_request_approve(
        request=submit(contractor, declaration), actor=approver
    )
    return services.loan_checkout(
        request=request,
        terminal=terminals[0],
        actor=facilities,
        operator_name="山田 太郎",
        acknowledged_name="山田 太郎",
    )


# Lifting a declaration --------------------------------------------------------------------------


def test_lifting_asks_first_naming_the_requests_it_cancels_and_the_loans_still_out(
    english, security, contractor, loan
):
    declaration = loan.request.declaration
    undecided = submit(contractor, declaration)
    english.force_login(security)
    url = reverse("lending:declaration-lift", args=[declaration.pk])
    with nothing_written(declaration, undecided, loan):
        asked = english.post(url)
    page = asked.content.decode()
    assert asked.status_code == 200
    assert "You are about to lift the declaration “台風10号”." in page
    assert "1 access request not yet decided will be cancelled." in page
    assert "1 loan is still out" in page
    assert "This cannot be undone." in page
    assert confirm_form(asked).cancel == reverse("lending:declaration", args=[declaration.pk])

    done = press_confirm(english, asked)
    assert done.status_code == 302
    declaration.refresh_from_db()
    undecided.refresh_from_db()
    assert declaration.status == DeclarationStatus.LIFTED
    assert undecided.status == RequestStatus.CANCELLED


def test_lifting_a_lifted_declaration_is_refused_without_asking(english, security, declaration):
    services.declaration_lift(declaration=declaration, actor=security)
    english.force_login(security)
    with nothing_written(declaration):
        response = english.post(
            reverse("lending:declaration-lift", args=[declaration.pk]), follow=True
        )
    page = response.content.decode()
    assert "You are about to" not in page
    assert "cannot become" in page


# Closing a declaration --------------------------------------------------------------------------


def test_closing_asks_first_naming_the_loans_and_sites_then_opens_the_stocktake(
    english, security, facilities, loan, cabinet, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.loan_return(
            loan=loan,
            actor=facilities,
            condition="ok",
            cards_returned=loan.cards.all(),
            return_location=cabinet,
            handed_back_by="山田 太郎",
            operator_signature="山田太郎",
            data_disposition="destroyed",
        )
    services.returned_terminals_settle()
    declaration = loan.request.declaration
    services.declaration_lift(declaration=declaration, actor=security)
    english.force_login(security)
    url = reverse("lending:declaration-close", args=[declaration.pk])
    with nothing_written(declaration):
        asked = english.post(url)
    page = asked.content.decode()
    assert asked.status_code == 200
    assert "You are about to close the declaration “台風10号”." in page
    assert "The close report is final with its 1 loan." in page
    assert "A stock-take is opened at its 1 site" in page

    done = press_confirm(english, asked)
    assert done.status_code == 302
    declaration.refresh_from_db()
    assert declaration.status == DeclarationStatus.CLOSED
    assert StockTake.objects.filter(reason="declaration_closed").count() == 1


# Forcing a rotation of a whole target system ---------------------------------------------------


def test_rotating_a_whole_target_asks_first_naming_how_many_accounts(
    english, security, target, terminals, django_capture_on_commit_callbacks
):
    english.force_login(security)
    url = reverse("credentials:force")
    with nothing_written(Account, Rotation):
        asked = english.post(url, {"target_system": target.code})
    page = asked.content.decode()
    assert asked.status_code == 200
    assert "You are about to rotate every account of コールセンターシステム." in page
    assert "2 accounts get a new random login ID and password on コールセンターシステム." in page
    assert ("target_system", "callcenter") in confirm_form(asked).fields

    with django_capture_on_commit_callbacks(execute=False):
        done = press_confirm(english, asked)
    assert done.status_code == 302
    assert Rotation.objects.filter(reason="forced").count() == 2


def test_one_account_rotates_without_asking(english, security, terminals):
    english.force_login(security)
    account = Account.objects.get(terminal=terminals[0])
    response = english.post(reverse("credentials:force"), {"account": account.pk})
    assert response.status_code == 302
    assert Rotation.objects.filter(reason="forced", account=account).count() == 1


# Declaring a loan's terminal lost ---------------------------------------------------------------


def test_declaring_lost_asks_first_naming_the_cards_and_accounts(english, security, loan):
    english.force_login(security)
    url = reverse("lending:loan-lost", args=[loan.pk])
    with nothing_written(loan, Terminal, Account):
        asked = english.post(url, {"lost-reason": "現場で紛失"})
    page = asked.content.decode()
    assert asked.status_code == 200
    assert "You are about to declare terminal NW-00001 lost." in page
    assert "Terminal NW-00001 and 1 access card lent with it are recorded as lost." in page
    assert "Its 1 account is locked and rotated." in page
    form = confirm_form(asked)
    assert ("lost-reason", "現場で紛失") in form.fields  # the reason is sent again
    assert ("confirm", "1") in form.fields
    assert form.cancel == reverse("lending:loan", args=[loan.pk])

    done = press_confirm(english, asked)
    assert done.status_code == 302
    loan.refresh_from_db()
    assert loan.status == LoanStatus.LOST
    assert loan.terminal.status == Terminal.Status.LOST


def test_a_lost_form_without_a_reason_is_refused_before_asking(english, security, loan):
    english.force_login(security)
    with nothing_written(loan):
        response = english.post(reverse("lending:loan-lost", args=[loan.pk]), {"lost-reason": ""})
    assert response.status_code == 400
    assert "A reason is required." in response.content.decode()
    assert "You are about to" not in response.content.decode()


# Writing off a finding --------------------------------------------------------------------------


@pytest.fixture
def missing(site, cabinet, security, facilities, target, django_capture_on_commit_callbacks):
    """A closed stock-take's `missing` finding of NW-B, which has one account."""
    terminal = make_terminal(location=cabinet, asset_tag="NW-B")
    with django_capture_on_commit_callbacks(execute=True):
        account_create(actor=None, target_system=target, terminal=terminal)
    stocktake = stocktakes.stocktake_open(site=site, actor=security, reason="manual")
    stocktakes.scan_record(stocktake=stocktake, location=cabinet, tag="NOT-A-TAG", actor=facilities)
    stocktakes.stocktake_close(stocktake=stocktake, actor=security)
    return stocktake.discrepancies.get(kind="missing")


def test_writing_off_a_finding_asks_first_naming_the_terminal_and_its_accounts(
    english, security, missing
):
    english.force_login(security)
    url = reverse("compliance:discrepancy_resolve", args=[missing.pk])
    post = {"outcome": "written_off", "note": "除却済み"}
    with nothing_written(missing, Terminal, Account):
        asked = english.post(url, post)
    page = asked.content.decode()
    assert asked.status_code == 200
    assert "You are about to resolve the finding NW-B as “Written off”." in page
    assert (
        "Terminal NW-B is written off (retired) and its 1 account is deleted on its target "
        "system." in page
    )

    done = press_confirm(english, asked)
    assert done.status_code == 302
    missing.refresh_from_db()
    assert missing.status == Discrepancy.Status.RESOLVED
    assert Terminal.objects.get(asset_tag="NW-B").status == Terminal.Status.RETIRED


def test_a_finding_found_again_is_resolved_without_asking(english, security, missing):
    english.force_login(security)
    response = english.post(
        reverse("compliance:discrepancy_resolve", args=[missing.pk]),
        {"outcome": "found", "note": "棚の奥にあった"},
    )
    assert response.status_code == 302
    missing.refresh_from_db()
    assert missing.status == Discrepancy.Status.RESOLVED


# Closing a stock-take already asks on its own page (GET), with the findings it will record.


def test_the_stocktake_close_page_names_the_findings_before_anything_is_written(
    english, security, site, cabinet
):
    make_terminal(location=cabinet, asset_tag="NW-X")
    stocktake = stocktakes.stocktake_open(site=site, actor=security, reason="manual")
    english.force_login(security)
    with nothing_written(stocktake):
        page = english.get(reverse("compliance:stocktake_close", args=[stocktake.pk]))
    assert "Closing now records 1 discrepancy" in page.content.decode()
