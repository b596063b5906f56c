"""Security declares, lifts and closes on the pages; closing is refused with every reason while
anything is out; the close report lists each loan and downloads as CSV for Excel."""

import csv
import io

from django.urls import reverse

from lending import services
from lending.models import Declaration, DeclarationStatus
from lending.reports import CloseReportRowSerializer
from tests.factories import make_training
from tests.support.db import nothing_written

CONFIRM = {"confirm": "1"}  # the confirmation page's button: these tests mean to act


def test_security_declares_a_disaster_for_the_chosen_sites(as_user, security, site):
    response = as_user(security).post(
        reverse("lending:declaration-create"),
        {"title": "令和8年 台風15号", "sites": [site.pk], "lending_limit": "2099-09-30T18:00"},
    )
    declaration = Declaration.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("lending:declaration", args=[declaration.pk])
    assert list(declaration.sites.all()) == [site]
    assert declaration.lending_limit.year == 2099
    page = as_user(security).get(response["Location"]).content.decode()
    assert "The declaration was issued." in page
    assert "令和8年 台風15号" in page


def test_a_declaration_without_sites_is_refused_and_keeps_the_title(as_user, security, site):
    with nothing_written():
        response = as_user(security).post(
            reverse("lending:declaration-create"), {"title": "令和8年 台風15号"}
        )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Choose at least one site." in page
    assert 'value="令和8年 台風15号"' in page


def test_closing_is_refused_with_every_reason_while_terminals_are_out(
    as_user, security, loan, card
):
    declaration = loan.request.declaration
    client = as_user(security)
    client.post(reverse("lending:declaration-lift", args=[declaration.pk]), CONFIRM)
    with nothing_written(Declaration):
        response = client.post(reverse("lending:declaration-close", args=[declaration.pk]))
    page = response.content.decode()
    assert response.status_code == 409
    assert "The declaration cannot be closed yet." in page
    assert "Terminal NW-00001 is still lent." in page
    assert "Access card IC-000001 is still lent." in page
    declaration.refresh_from_db()
    assert declaration.status == DeclarationStatus.LIFTED


def test_lifting_makes_the_declaration_lifted_and_says_so(as_user, security, declaration):
    response = as_user(security).post(
        reverse("lending:declaration-lift", args=[declaration.pk]), CONFIRM, follow=True
    )
    declaration.refresh_from_db()
    assert declaration.status == DeclarationStatus.LIFTED
    assert "The declaration was lifted." in response.content.decode()
    assert reverse("lending:declaration-close", args=[declaration.pk]) in (
        response.content.decode()
    )


def _returned_and_rotated(loan, facilities, cabinet, django_capture_on_commit_callbacks):
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


def test_once_everything_is_back_it_closes_and_the_report_lists_each_loan(
    as_user, security, facilities, loan, card, cabinet, django_capture_on_commit_callbacks
):
    _returned_and_rotated(loan, facilities, cabinet, django_capture_on_commit_callbacks)
    declaration = loan.request.declaration
    client = as_user(security)
    client.post(reverse("lending:declaration-lift", args=[declaration.pk]), CONFIRM)
    response = client.post(reverse("lending:declaration-close", args=[declaration.pk]), CONFIRM)
    assert response.status_code == 302
    declaration.refresh_from_db()
    assert declaration.status == DeclarationStatus.CLOSED

    report = client.get(reverse("lending:declaration-report", args=[declaration.pk]))
    page = report.content.decode()
    assert "NW-00001" in page
    assert "関東電工" in page
    assert "aki" in page  # who approved
    assert "fiona" in page  # who handed out and received it back
    assert "Not yet" not in page  # its rotation is recorded
    assert "/static/js/print.js" in page


def test_the_report_downloads_as_csv_with_a_byte_order_mark(as_user, auditor, loan):
    declaration = loan.request.declaration
    response = as_user(auditor).get(
        reverse("lending:declaration-report-csv", args=[declaration.pk]), HTTP_ACCEPT_LANGUAGE="en"
    )
    body = response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["loan", "terminal", "contractor"]
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row["terminal"], row["contractor"]) == ("NW-00001", "関東電工")
    assert row["operator who received it"] == "山田 太郎"
    # Tokyo time with its offset: a spreadsheet elsewhere reads the same moment.
    assert row["checked out at"].endswith("+09:00")
    assert len(rows) == 2


def test_the_page_and_the_api_download_the_same_report(as_user, auditor, loan):
    declaration = loan.request.declaration
    client = as_user(auditor)
    page = client.get(
        reverse("lending:declaration-report-csv", args=[declaration.pk]), HTTP_ACCEPT_LANGUAGE="en"
    )
    api = client.get(f"/api/v1/declarations/{declaration.pk}/report.csv", HTTP_ACCEPT_LANGUAGE="en")
    assert api.status_code == 200
    assert page.content == api.content


def test_a_contractor_sees_only_active_declarations(as_user, contractor, security, declaration):
    client = as_user(contractor)
    assert "台風10号" in client.get(reverse("lending:declarations")).content.decode()
    services.declaration_lift(declaration=declaration, actor=security)
    assert "台風10号" not in client.get(reverse("lending:declarations")).content.decode()
    assert client.get(reverse("lending:declaration", args=[declaration.pk])).status_code == 404


def test_a_typed_name_that_looks_like_a_formula_stays_text_in_the_csv(
    as_user, auditor, approved, terminals, facilities
):
    make_training(approved.contractor, '=HYPERLINK("http://example.com")')
    services.loan_checkout(
        request=approved,
        terminal=terminals[0],
        actor=facilities,
        operator_name='=HYPERLINK("http://example.com")',
        operator_reason="交代要員",
        acknowledged_name='=HYPERLINK("http://example.com")',
    )
    response = as_user(auditor).get(
        reverse("lending:declaration-report-csv", args=[approved.declaration_id])
    )
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    operator = rows[0].index(str(CloseReportRowSerializer().fields["operator_name"].label))
    assert rows[1][operator] == '\'=HYPERLINK("http://example.com")'


def test_the_language_switcher_returns_to_the_page_after_a_refused_close(as_user, security, loan):
    """Issue 9, item 6: after a refused POST the switcher went to the POST-only URL (405)."""
    declaration = loan.request.declaration
    client = as_user(security)
    client.post(reverse("lending:declaration-lift", args=[declaration.pk]), CONFIRM)
    page_url = reverse("lending:declaration", args=[declaration.pk])
    refused = client.post(
        reverse("lending:declaration-close", args=[declaration.pk]),
        HTTP_REFERER=f"http://testserver{page_url}",
    )
    assert refused.status_code == 409
    assert f'name="next" value="{page_url}"' in refused.content.decode()

    switched = client.post(reverse("set_language"), {"language": "en", "next": page_url})
    assert (switched.status_code, switched.url) == (302, page_url)
    assert client.get(switched.url).status_code == 200


def test_the_switcher_never_returns_to_another_site(as_user, security, loan):
    declaration = loan.request.declaration
    client = as_user(security)
    client.post(reverse("lending:declaration-lift", args=[declaration.pk]), CONFIRM)
    refused = client.post(
        reverse("lending:declaration-close", args=[declaration.pk]),
        HTTP_REFERER="https://evil.example/phish/",
    )
    assert 'name="next" value="/"' in refused.content.decode()


def test_every_blocker_of_a_refused_close_links_to_where_it_is_resolved(
    as_user, security, facilities, loan, card, cabinet, django_capture_on_commit_callbacks
):
    """Issue 9, item 2: a card that did not come back blocked the close with nowhere to go."""
    from compliance.models import Discrepancy

    declaration = loan.request.declaration
    client = as_user(security)
    client.post(reverse("lending:declaration-lift", args=[declaration.pk]), CONFIRM)
    out = client.post(reverse("lending:declaration-close", args=[declaration.pk]))
    assert (
        f'<a href="{reverse("lending:loan", args=[loan.pk])}">Terminal NW-00001 is still lent.'
        in (out.content.decode())
    )

    with django_capture_on_commit_callbacks(execute=True):
        services.loan_return(
            loan=loan,
            actor=facilities,
            condition="ok",
            cards_returned=[],
            return_location=cabinet,
            handed_back_by="山田 太郎",
            operator_signature="山田",
            data_disposition="destroyed",
        )
    services.returned_terminals_settle()
    finding = Discrepancy.objects.get(kind="card_not_returned")
    page = client.post(reverse("lending:declaration-close", args=[declaration.pk])).content.decode()
    link = reverse("compliance:discrepancy_detail", args=[finding.pk])
    assert f'<a href="{link}">Access card IC-000001 is still lent.</a>' in page
    # The linked page settles it, and the close goes through.
    client.post(
        reverse("compliance:discrepancy_resolve", args=[finding.pk]),
        {"outcome": "found", "note": "車両内で発見"},
    )
    closed = client.post(reverse("lending:declaration-close", args=[declaration.pk]), CONFIRM)
    assert closed.status_code == 302
    declaration.refresh_from_db()
    assert declaration.status == DeclarationStatus.CLOSED
