"""Long lists keep their filters and their sort in the URL: a heading sorts by its column (a
second click reverses it), the links of the headings, tabs and pages keep the rest of the query,
and a sort key a list does not offer is ignored."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from lending import services as lending
from lending.models import AccessRequest, Loan, LoanStatus
from tests.factories import make_discrepancy, make_location, make_terminal

LOANS = reverse("lending:loans")
FINDINGS = reverse("compliance:discrepancy_list")


@pytest.fixture
def english(as_user, settings):
    def sign_in(user):
        client = as_user(user)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    return sign_in


def _request(declaration, organization, user) -> AccessRequest:
    return AccessRequest.objects.create(
        declaration=declaration,
        contractor=organization,
        submitted_by=user,
        work_site="館山市",
        quantity=5,
        operators=["山田 太郎"],
        purpose="停電復旧",
        needed_until=timezone.now() + dt.timedelta(days=3),
        status="approved",
    )


def _loan(request, terminal, *, operator, hours_ago, status=LoanStatus.OPEN) -> Loan:
    now = timezone.now()
    return Loan.objects.create(
        request=request,
        terminal=terminal,
        status=status,
        work_site="館山市",
        operator_name=operator,
        handed_out_by=request.submitted_by,
        checked_out_at=now - dt.timedelta(hours=hours_ago),
        due_at=now + dt.timedelta(days=1, hours=hours_ago),
        acknowledgement_text="誓約",
        acknowledged_name=operator,
        acknowledged_at=now,
    )


@pytest.fixture
def loans(site, cabinet, security, contractor, outsider, contractor_org, other_contractor_org):
    """Three open loans and a returned one under typhoon 10, one open loan under typhoon 11."""
    typhoon10 = lending.declaration_declare(actor=security, title="台風10号", sites=[site])
    typhoon11 = lending.declaration_declare(actor=security, title="台風11号", sites=[site])
    ours = _request(typhoon10, contractor_org, contractor)
    theirs = _request(typhoon10, other_contractor_org, outsider)
    later = _request(typhoon11, contractor_org, contractor)
    terminal = {tag: make_terminal(location=cabinet, asset_tag=tag) for tag in "BCADE"}
    _loan(ours, terminal["B"], operator="佐藤", hours_ago=3)
    _loan(theirs, terminal["C"], operator="鈴木", hours_ago=1)
    _loan(ours, terminal["A"], operator="田中", hours_ago=2)
    _loan(ours, terminal["D"], operator="伊藤", hours_ago=5, status=LoanStatus.RETURNED)
    _loan(later, terminal["E"], operator="高橋", hours_ago=4)
    return {"typhoon10": typhoon10, "typhoon11": typhoon11}


def _loan_tags(response) -> list[str]:
    return re.findall(r'href="/lending/loans/\d+/">([A-Z])</a>', response.content.decode())


def _heading_link(response, label: str) -> str:
    """The href of the column heading `label`, unescaped."""
    page = response.content.decode()
    match = re.search(r'<th scope="col"[^>]*><a href="([^"]*)">' + re.escape(label), page)
    assert match, f"no sortable heading {label!r}"
    return match.group(1).replace("&amp;", "&")


# Loans ----------------------------------------------------------------------------------------


def test_the_loan_list_sorts_by_a_heading_and_reverses_on_the_second_click(
    english, facilities, loans
):
    client = english(facilities)
    first = client.get(LOANS)
    assert _loan_tags(first) == ["C", "A", "B", "E"]  # newest check-out first, as before
    by_terminal = _heading_link(first, "Terminal")
    assert by_terminal == "?ordering=terminal"
    ascending = client.get(LOANS + by_terminal)
    assert _loan_tags(ascending) == ["A", "B", "C", "E"]
    descending = client.get(LOANS + _heading_link(ascending, "Terminal ▲"))
    assert _loan_tags(descending) == ["E", "C", "B", "A"]
    assert 'aria-sort="descending"' in descending.content.decode()


def test_the_loan_list_filters_by_status_declaration_and_contractor_in_the_url(
    english, facilities, loans, contractor_org
):
    client = english(facilities)
    declaration = loans["typhoon10"].pk
    assert _loan_tags(client.get(LOANS, {"declaration": declaration})) == ["C", "A", "B"]
    assert _loan_tags(
        client.get(LOANS, {"declaration": declaration, "contractor": contractor_org.pk})
    ) == ["A", "B"]
    everything = client.get(LOANS, {"declaration": declaration, "status": "all"})
    assert sorted(_loan_tags(everything)) == ["A", "B", "C", "D"]
    assert _loan_tags(client.get(LOANS, {"status": "returned"})) == ["D"]


def test_sorting_keeps_the_filters_and_the_status_tabs_keep_the_sort(
    english, facilities, loans, contractor_org
):
    client = english(facilities)
    query = {"declaration": loans["typhoon10"].pk, "contractor": contractor_org.pk}
    filtered = client.get(LOANS, query)
    link = _heading_link(filtered, "Operator who received it")
    assert f"declaration={query['declaration']}" in link
    assert f"contractor={query['contractor']}" in link
    sorted_page = client.get(LOANS + link)
    assert _loan_tags(sorted_page) == ["B", "A"]  # 佐藤 before 田中
    tab = re.search(r'href="([^"]*status=all[^"]*)"', sorted_page.content.decode()).group(1)
    assert "ordering=operator" in tab.replace("&amp;", "&")


def test_the_loan_pages_keep_filters_and_sort(english, facilities, loans, monkeypatch):
    monkeypatch.setattr("lending.views.LOAN_LIST_PAGE_SIZE", 2)
    client = english(facilities)
    first = client.get(LOANS, {"status": "all", "ordering": "terminal"})
    assert _loan_tags(first) == ["A", "B"]
    next_link = re.search(r'href="([^"]*)" rel="next"', first.content.decode()).group(1)
    second = client.get(LOANS + next_link.replace("&amp;", "&"))
    assert _loan_tags(second) == ["C", "D"]


def test_an_unknown_sort_key_is_ignored(english, facilities, loans):
    client = english(facilities)
    for bad in ("password", "request__contractor__api_tokens", "-"):
        response = client.get(LOANS, {"ordering": bad})
        assert response.status_code == 200
        assert _loan_tags(response) == ["C", "A", "B", "E"]


def test_a_contractor_neither_sees_nor_sorts_by_other_contractors(english, contractor, loans):
    client = english(contractor)
    page = client.get(LOANS, {"ordering": "terminal"})
    assert _loan_tags(page) == ["A", "B", "E"]
    assert 'name="contractor"' not in page.content.decode()
    # The filter is not theirs to use: their own loans only, whatever the URL asks.
    assert _loan_tags(client.get(LOANS, {"contractor": 999999})) == ["A", "B", "E"]


# Findings (discrepancies) -----------------------------------------------------------------------


def _subjects(response) -> list[str]:
    return re.findall(
        r'href="/terminals/discrepancies/\d+/">([^<]+)</a>', response.content.decode()
    )


@pytest.fixture
def findings(cabinet, site, operator):
    other = make_location(kind="cabinet", parent=cabinet.parent, code="hq-cab-9", name="A保管庫")
    made = []
    for subject, location, days in (("NW-M", cabinet, 3), ("NW-K", other, 1), ("NW-Z", None, 2)):
        discrepancy = make_discrepancy(
            kind="missing", terminal=make_terminal(location=cabinet, asset_tag=subject)
        )
        discrepancy.location = location
        discrepancy.opened_at = timezone.now() - dt.timedelta(days=days)
        discrepancy.save(update_fields=["location", "opened_at"])
        made.append(discrepancy)
    return made


def test_the_findings_list_sorts_by_a_heading_and_keeps_its_filters(english, security, findings):
    client = english(security)
    first = client.get(FINDINGS, {"kind": "missing"})
    assert _subjects(first) == ["NW-K", "NW-Z", "NW-M"]  # newest first, as before
    link = _heading_link(first, "Subject")
    assert "kind=missing" in link and "ordering=subject" in link
    assert _subjects(client.get(FINDINGS + link)) == ["NW-K", "NW-M", "NW-Z"]
    oldest_first = client.get(FINDINGS, {"kind": "missing", "ordering": "opened_at"})
    assert _subjects(oldest_first) == ["NW-M", "NW-Z", "NW-K"]
    assert _subjects(client.get(FINDINGS, {"ordering": "-subject"})) == ["NW-Z", "NW-M", "NW-K"]


def test_the_findings_list_ignores_an_unknown_sort_key(english, security, findings):
    response = english(security).get(FINDINGS, {"ordering": "resolution_note"})
    assert response.status_code == 200
    assert _subjects(response) == ["NW-K", "NW-Z", "NW-M"]


def test_the_findings_search_form_keeps_the_sort(english, security, findings):
    page = english(security).get(FINDINGS, {"ordering": "-opened_at"}).content.decode()
    assert '<input type="hidden" name="ordering" value="-opened_at">' in page
