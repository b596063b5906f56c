"""The counter return: scan the tag, record condition, cards, location and both names; the
rotation of the terminal's accounts is asked for in the same commit."""

import re

from django.urls import reverse

from compliance.models import Discrepancy
from credentials.models import Rotation
from lending.models import LoanStatus
from terminals.models import AccessCard, Terminal
from tests.support.db import nothing_written


def test_scanning_a_lent_terminal_opens_its_return_form(as_user, facilities, loan):
    response = as_user(facilities).get(reverse("lending:returns"), {"tag": "NW-00001"})
    assert response.status_code == 302
    assert response["Location"] == reverse("lending:return", args=[loan.pk])


def test_scanning_a_terminal_that_is_not_out_says_so(as_user, facilities, loan):
    page = as_user(facilities).get(reverse("lending:returns"), {"tag": "NW-00002"}).content.decode()
    assert "Terminal NW-00002 has no open loan." in page
    assert 'value="NW-00002"' in page


def test_the_return_form_starts_from_what_was_lent(as_user, facilities, loan, card, cabinet):
    page = as_user(facilities).get(reverse("lending:return", args=[loan.pk])).content.decode()
    assert "IC-000001" in page
    assert 'value="山田 太郎"' in page  # who received it is the usual one to bring it back
    assert f'<option value="{cabinet.pk}" selected>' in page


def test_a_return_is_recorded_and_the_rotation_asked_for(
    as_user, facilities, loan, card, cabinet, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = as_user(facilities).post(
            reverse("lending:return", args=[loan.pk]),
            {
                "condition": "ok",
                "cards_returned": [card.pk],
                "return_location": cabinet.pk,
                "handed_back_by": "山田 太郎",
                "operator_signature": "山田太郎",
                "data_disposition": "destroyed",
                "notes": "外観異常なし",
            },
        )
    assert response.status_code == 302
    loan.refresh_from_db()
    confirmation = loan.return_confirmation
    assert loan.status == LoanStatus.RETURNED
    assert (confirmation.received_by, confirmation.notes) == (facilities, "外観異常なし")
    assert loan.terminal.status == Terminal.Status.RETURNED
    assert Rotation.objects.filter(reason="return", account__terminal=loan.terminal).exists()
    assert callbacks  # the rotation is sent to a worker after the commit
    card.refresh_from_db()
    assert card.status == AccessCard.Status.IN_STORAGE


def test_a_missing_signature_is_shown_and_the_rest_is_kept(
    as_user, facilities, loan, card, cabinet
):
    with nothing_written(loan, loan.terminal, card):
        response = as_user(facilities).post(
            reverse("lending:return", args=[loan.pk]),
            {
                "condition": "damaged",
                "return_location": cabinet.pk,
                "handed_back_by": "佐藤 花子",
                "operator_signature": "",
                "data_disposition": "destroyed",
                "notes": "画面に傷",
            },
        )
    page = response.content.decode()
    assert "The operator signs the return." in page
    assert 'value="佐藤 花子"' in page
    assert "画面に傷" in page
    assert re.search(r'value="damaged"[^>]*checked', page)


def test_a_card_not_handed_back_becomes_a_discrepancy(
    as_user, facilities, loan, card, cabinet, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        as_user(facilities).post(
            reverse("lending:return", args=[loan.pk]),
            {
                "condition": "parts_missing",
                "return_location": cabinet.pk,
                "handed_back_by": "山田 太郎",
                "operator_signature": "山田太郎",
                "data_disposition": "destroyed",
            },
        )
    assert Discrepancy.objects.filter(access_card=card).exists()
