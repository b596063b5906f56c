"""At the end of the work the operator confirms what became of the data and printouts
obtained for it; the return is refused without it, and the close report shows it per loan."""

import csv
import io

import pytest
from django.urls import reverse
from django.utils import translation
from django.utils.text import capfirst
from django.utils.translation import gettext

from core.errors import InvalidInput
from core.models import AuditEvent
from lending import services
from lending.models import DataDisposition, LoanStatus
from tests.lending.supervision.conftest import OPERATOR, hand_out
from tests.support.db import nothing_written


@pytest.fixture
def loan(approved, terminal, facilities):
    return hand_out(approved, terminal, facilities)


def _return(loan, actor, cabinet, disposition):
    return services.loan_return(
        loan=loan,
        actor=actor,
        condition="ok",
        cards_returned=[],
        return_location=cabinet,
        handed_back_by=OPERATOR,
        operator_signature=OPERATOR,
        data_disposition=disposition,
    )


@pytest.mark.parametrize("disposition", ["", "shredded?"])
def test_a_return_without_the_data_disposition_is_refused(loan, facilities, cabinet, disposition):
    with nothing_written(loan), pytest.raises(InvalidInput) as refused:
        _return(loan, facilities, cabinet, disposition)
    assert refused.value.field_errors == {
        "data_disposition": ["Say what became of the data and printouts obtained for the work."]
    }


def test_the_return_records_it_and_its_audit_event_says_it(loan, facilities, cabinet):
    confirmation = _return(loan, facilities, cabinet, DataDisposition.DESTROYED)
    assert confirmation.data_disposition == "destroyed"
    event = AuditEvent.objects.get(action="loan.returned")
    assert event.details["data_disposition"] == "destroyed"


def test_the_return_api_requires_it(api_as, loan, facilities, cabinet):
    body = {
        "condition": "ok",
        "return_location": cabinet.code,
        "handed_back_by": OPERATOR,
        "operator_signature": OPERATOR,
    }
    client = api_as(facilities)
    refused = client.post(f"/api/v1/loans/{loan.pk}/return/", body, format="json")
    assert refused.status_code == 400
    assert list(refused.json()) == ["data_disposition"]
    answered = client.post(
        f"/api/v1/loans/{loan.pk}/return/",
        {**body, "data_disposition": "none_obtained"},
        format="json",
    )
    assert answered.status_code == 200, answered.content
    assert answered.json()["return_confirmation"]["data_disposition"] == "none_obtained"


def test_the_return_page_shows_the_choice_and_refuses_without_it(client, loan, facilities, cabinet):
    client.force_login(facilities)
    url = reverse("lending:return", args=[loan.pk])
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'name="data_disposition" value="destroyed"' in page
    body = {
        "condition": "ok",
        "return_location": cabinet.pk,
        "handed_back_by": OPERATOR,
        "operator_signature": OPERATOR,
    }
    with nothing_written(loan):
        refused = client.post(url, body, HTTP_ACCEPT_LANGUAGE="en")
    assert "Say what became of the data and printouts" in refused.content.decode()
    client.post(url, {**body, "data_disposition": "returned"})
    loan.refresh_from_db()
    assert loan.status == LoanStatus.RETURNED
    assert loan.return_confirmation.data_disposition == "returned"


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_the_close_report_shows_it_per_loan(
    client, loan, facilities, auditor, cabinet, declaration, lang
):
    _return(loan, facilities, cabinet, DataDisposition.DESTROYED)
    client.force_login(auditor)
    client.cookies["django_language"] = lang
    page = client.get(reverse("lending:declaration-report", args=[declaration.pk])).content
    html = page.decode()
    assert f'<html lang="{lang}"' in html
    cell = html.split('class="data-disposition">')[1].split("</span>")[0]
    # In the reader's language, as the catalogue has it.
    with translation.override(lang):
        assert capfirst(gettext("data and printouts")) in cell
        assert str(DataDisposition.DESTROYED.label) in cell


def test_the_close_report_csv_has_the_column(
    client, loan, facilities, auditor, cabinet, declaration
):
    _return(loan, facilities, cabinet, DataDisposition.NONE_OBTAINED)
    client.force_login(auditor)
    response = client.get(
        reverse("lending:declaration-report-csv", args=[declaration.pk]),
        HTTP_ACCEPT_LANGUAGE="en",
    )
    header, row = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert row[header.index("data and printouts")] == "None were obtained"


def test_the_loan_page_shows_the_exception_and_the_data_disposition(
    client, approved, terminal, facilities, firm, security, declaration, cabinet
):
    from lending.models import ContractorReport
    from lending.supervision import supervision_exception_grant

    ContractorReport.objects.filter(contractor=firm).delete()
    supervision_exception_grant(
        actor=security, declaration=declaration, contractor=firm, reason="報告書は郵送中", hours=4
    )
    loan = hand_out(approved, terminal, facilities)
    _return(loan, facilities, cabinet, DataDisposition.RETURNED)
    client.force_login(security)
    html = client.get(reverse("lending:loan", args=[loan.pk]), HTTP_ACCEPT_LANGUAGE="en")
    html = html.content.decode()
    assert "Lent under a supervision exception: 報告書は郵送中" in html
    assert "Returned to the operator" in html
