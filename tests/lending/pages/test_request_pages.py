"""The contractor's web form, the facilities queue (approve, reject with a reason), and
cancelling; every refusal is shown on the form and nothing typed is lost."""

import datetime

from django.core import mail
from django.urls import reverse
from django.utils import timezone

from lending import services
from lending.models import AccessRequest, RequestStatus
from tests.lending.pages.conftest import submit
from tests.support.db import nothing_written


def _form(declaration, **changes):
    needed = timezone.localtime() + datetime.timedelta(days=2)
    data = {
        "declaration": declaration.pk,
        "work_site": "千葉県館山市 配電復旧現場",
        "quantity": "2",
        "operators": "山田 太郎\n佐藤 花子\n",
        "purpose": "停電復旧作業の顧客対応",
        "needed_until": needed.strftime("%Y-%m-%dT%H:%M"),
    }
    data.update(changes)
    return data


def test_a_contractor_submits_the_web_form(
    as_user, contractor, declaration, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(contractor).post(
            reverse("lending:request-create"), _form(declaration), follow=True
        )
    request = AccessRequest.objects.get()
    assert request.contractor == contractor.organization
    assert request.operators == ["山田 太郎", "佐藤 花子"]
    assert request.quantity == 2
    page = response.content.decode()
    assert f"Your request #{request.pk} was submitted." in page
    assert "千葉県館山市 配電復旧現場" in page


def test_the_form_offers_only_active_declarations(as_user, contractor, declaration, security):
    other = services.declaration_declare(
        actor=security, title="地震", sites=declaration.sites.all()
    )
    services.declaration_lift(declaration=other, actor=security)
    page = as_user(contractor).get(reverse("lending:request-create")).content.decode()
    assert "台風10号" in page
    assert "地震" not in page


def test_an_out_of_range_quantity_is_shown_on_its_field_and_nothing_typed_is_lost(
    as_user, contractor, declaration
):
    with nothing_written():
        response = as_user(contractor).post(
            reverse("lending:request-create"), _form(declaration, quantity="99")
        )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Ask for between 1 and 20 terminals." in page
    assert 'value="千葉県館山市 配電復旧現場"' in page
    assert "山田 太郎\n佐藤 花子" in page
    assert "停電復旧作業の顧客対応" in page
    assert 'value="99"' in page


def test_a_needed_until_in_the_past_is_refused(as_user, contractor, declaration):
    with nothing_written():
        page = (
            as_user(contractor)
            .post(
                reverse("lending:request-create"),
                _form(declaration, needed_until="2020-01-01T09:00"),
            )
            .content.decode()
        )
    assert "“Needed until” must be in the future." in page
    assert 'value="2020-01-01T09:00"' in page


def test_without_an_active_declaration_the_form_says_so(as_user, contractor, site):
    page = as_user(contractor).get(reverse("lending:request-create")).content.decode()
    assert "No disaster is declared now: terminals cannot be requested." in page


def test_facilities_approve_from_the_queue(
    as_user, facilities, contractor, declaration, django_capture_on_commit_callbacks
):
    request = submit(contractor, declaration)
    client = as_user(facilities)
    queue = client.get(reverse("lending:request-queue")).content.decode()
    assert "千葉県館山市 配電復旧現場" in queue
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("lending:request-approve", args=[request.pk]),
            {"next": reverse("lending:request-queue")},
        )
    assert response["Location"] == reverse("lending:request-queue")
    request.refresh_from_db()
    assert (request.status, request.decided_by) == (RequestStatus.APPROVED, facilities)
    assert (
        "No request is waiting for a decision."
        in client.get(reverse("lending:request-queue")).content.decode()
    )


def test_a_rejection_needs_a_reason(as_user, facilities, contractor, declaration):
    request = submit(contractor, declaration)
    client = as_user(facilities)
    with nothing_written(request):
        response = client.post(
            reverse("lending:request-reject", args=[request.pk]), {"reason": " "}
        )
    assert response.status_code == 400
    assert "A reason is required." in response.content.decode()

    response = client.post(
        reverse("lending:request-reject", args=[request.pk]),
        {"reason": "対象エリア外の作業です", "next": reverse("lending:request-queue")},
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert (request.status, request.decision_reason) == (
        RequestStatus.REJECTED,
        "対象エリア外の作業です",
    )


def test_the_contractor_cancels_an_open_request(as_user, contractor, declaration):
    request = submit(contractor, declaration)
    client = as_user(contractor)
    page = client.get(reverse("lending:request", args=[request.pk])).content.decode()
    assert reverse("lending:request-cancel", args=[request.pk]) in page
    response = client.post(reverse("lending:request-cancel", args=[request.pk]), follow=True)
    request.refresh_from_db()
    assert request.status == RequestStatus.CANCELLED
    assert f"Request #{request.pk} was cancelled." in response.content.decode()


def test_a_request_with_terminals_out_cannot_be_cancelled(as_user, contractor, loan):
    with nothing_written(loan.request, loan):
        response = as_user(contractor).post(
            reverse("lending:request-cancel", args=[loan.request_id]), follow=True
        )
    assert "Terminals of this request are out; return them first." in response.content.decode()


def test_submitting_notifies_by_email(
    as_user, contractor, facilities, declaration, django_capture_on_commit_callbacks
):
    facilities.email = "fiona@example.jp"
    facilities.save()
    with django_capture_on_commit_callbacks(execute=True):
        as_user(contractor).post(reverse("lending:request-create"), _form(declaration))
    assert [message.to for message in mail.outbox] == [["fiona@example.jp"]]


def test_one_submit_shows_every_error_of_the_form_and_of_the_rules(
    as_user, contractor, declaration
):
    """Issue 9, item 8: a quantity the form cannot read hid the missing work site and operators
    until a second submit."""
    with nothing_written():
        response = as_user(contractor).post(
            reverse("lending:request-create"),
            _form(declaration, quantity="abc", work_site="", operators="", needed_until=""),
        )
    page = response.content.decode()
    assert response.status_code == 200
    for message in (
        "Enter a whole number.",  # the form's own
        "Say where the terminals will be used.",  # the service's rules, in the same round
        "Name at least one operator who will use the terminals.",
        "This field is required.",  # needed until, once
    ):
        assert message in page, message
    assert page.count("This field is required.") == 1
    assert "停電復旧作業の顧客対応" in page  # nothing typed is lost
