"""Discrepancy pages: the list and its filters, assigning, resolving (with the errors a reviewer
can make, and separation of duties), evidence behind a permission check, and policy checks run
by hand."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from compliance import services as stocktakes
from compliance.models import Discrepancy, DiscrepancyEvidence, StockTake
from core.models import AuditEvent
from core.roles import Role
from terminals.models import Terminal
from tests.factories import make_location, make_terminal, make_user
from tests.support.db import nothing_written

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def closed(site, cabinet, second_cabinet, facilities, security):
    """A closed stock-take with one discrepancy of each common kind, scanned by facilities."""
    make_terminal(location=cabinet, asset_tag="NW-A")
    make_terminal(location=cabinet, asset_tag="NW-B")
    make_terminal(location=second_cabinet, asset_tag="NW-C")
    stocktake = stocktakes.stocktake_open(site=site, actor=security, reason="manual")
    for tag in ("NW-A", "NW-C", "NOT-A-TAG"):
        stocktakes.scan_record(stocktake=stocktake, location=cabinet, tag=tag, actor=facilities)
    return stocktakes.stocktake_close(stocktake=stocktake, actor=security)


def found(stocktake, kind) -> Discrepancy:
    return stocktake.discrepancies.get(kind=kind)


def detail_url(discrepancy):
    return reverse("compliance:discrepancy_detail", kwargs={"pk": discrepancy.pk})


def resolve_url(discrepancy):
    return reverse("compliance:discrepancy_resolve", kwargs={"pk": discrepancy.pk})


def english(client):
    client.cookies["django_language"] = "en"
    return client


# Who may do what ------------------------------------------------------------------------------


def test_an_anonymous_visitor_is_sent_to_the_login_page(client, closed):
    missing = found(closed, "missing")
    for url in (reverse("compliance:discrepancy_list"), detail_url(missing)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('login')}?next={url}"


def test_a_contractor_sees_no_discrepancy(as_user, contractor, closed):
    client = as_user(contractor)
    assert client.get(reverse("compliance:discrepancy_list")).status_code == 403
    assert client.get(detail_url(found(closed, "missing"))).status_code == 403


@pytest.mark.parametrize("persona", ["facilities", "auditor"])
def test_readers_see_discrepancies_but_cannot_assign_resolve_or_run_checks(
    request, as_user, closed, security, persona
):
    client = as_user(request.getfixturevalue(persona))
    missing = found(closed, "missing")
    assert "NW-B" in client.get(reverse("compliance:discrepancy_list")).content.decode()
    page = client.get(detail_url(missing)).content.decode()
    assert 'name="outcome"' not in page
    assert 'name="assignee"' not in page
    events = AuditEvent.objects.count()
    post = {"outcome": "found", "note": "x", "assignee": security.pk}
    assert client.post(resolve_url(missing), post).status_code == 403
    assign = reverse("compliance:discrepancy_assign", kwargs={"pk": missing.pk})
    assert client.post(assign, post).status_code == 403
    assert client.post(reverse("compliance:policy_checks_run")).status_code == 403
    assert AuditEvent.objects.count() == events
    missing.refresh_from_db()
    assert missing.status == Discrepancy.Status.OPEN


# List and filters -----------------------------------------------------------------------------


def _subjects(response) -> set[str]:
    return {d.subject for d in response.context["page"].object_list}


def test_the_list_shows_open_discrepancies_first_and_all_on_request(as_user, security, closed):
    stocktakes.discrepancy_resolve(
        discrepancy=found(closed, "unknown_tag"), actor=security, outcome="found", note="ok"
    )
    client = as_user(security)
    assert _subjects(client.get(reverse("compliance:discrepancy_list"))) == {"NW-B", "NW-C"}
    everything = client.get(reverse("compliance:discrepancy_list"), {"status": ""})
    assert _subjects(everything) == {"NW-B", "NW-C", "NOT-A-TAG"}


def test_the_list_filters_by_kind_site_stocktake_age_and_assignee(
    as_user, security, closed, operator
):
    other_site = make_location(code="branch", name="支店", custodian=operator)
    make_terminal(location=other_site, asset_tag="NW-BRANCH")
    branch = stocktakes.stocktake_open(site=other_site, actor=security, reason="manual")
    stocktakes.stocktake_close(stocktake=branch, actor=security)  # NW-BRANCH missing
    colleague = make_user("sara", Role.SECURITY, operator)
    stocktakes.discrepancy_assign(
        discrepancy=found(closed, "found_elsewhere"), actor=security, assignee=colleague
    )
    Discrepancy.objects.filter(subject="NW-B").update(
        opened_at=timezone.now() - timezone.timedelta(days=10)
    )
    client = as_user(security)
    url = reverse("compliance:discrepancy_list")
    assert _subjects(client.get(url, {"kind": "missing"})) == {"NW-B", "NW-BRANCH"}
    assert _subjects(client.get(url, {"site": other_site.pk})) == {"NW-BRANCH"}
    assert _subjects(client.get(url, {"stocktake": closed.pk})) == {"NW-B", "NW-C", "NOT-A-TAG"}
    assert _subjects(client.get(url, {"age": "7"})) == {"NW-B"}
    assert _subjects(client.get(url, {"assignee": colleague.pk})) == {"NW-C"}
    assert "NW-C" not in _subjects(client.get(url, {"assignee": "none"}))


# Assigning and resolving ----------------------------------------------------------------------


def test_a_security_officer_assigns_a_discrepancy_to_a_colleague(
    as_user, security, closed, operator
):
    colleague = make_user("sara", Role.SECURITY, operator)
    missing = found(closed, "missing")
    client = english(as_user(security))
    page = client.get(detail_url(missing)).content.decode()
    assert f'<option value="{colleague.pk}">sara</option>' in page
    response = client.post(
        reverse("compliance:discrepancy_assign", kwargs={"pk": missing.pk}),
        {"assignee": colleague.pk},
        follow=True,
    )
    assert "Assigned to sara." in response.content.decode()
    missing.refresh_from_db()
    assert missing.assignee == colleague


def test_only_security_officers_can_be_assigned(as_user, security, facilities, closed):
    missing = found(closed, "missing")
    with nothing_written(missing):
        response = as_user(security).post(
            reverse("compliance:discrepancy_assign", kwargs={"pk": missing.pk}),
            {"assignee": facilities.pk},
        )
    assert response.status_code == 400


def test_the_resolve_form_offers_only_the_outcomes_of_the_kind(as_user, security, closed):
    page = as_user(security).get(detail_url(found(closed, "found_elsewhere"))).content.decode()
    assert 'value="relocated"' in page
    assert 'value="found"' in page
    assert 'value="lost_or_stolen"' not in page


def test_resolving_without_a_note_is_refused_on_the_form(as_user, security, closed):
    missing = found(closed, "missing")
    with nothing_written(missing):
        response = english(as_user(security)).post(
            resolve_url(missing), {"outcome": "lost_or_stolen", "note": "  "}
        )
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()


def test_an_outcome_that_does_not_fit_the_kind_is_refused_on_the_form(as_user, security, closed):
    unknown = found(closed, "unknown_tag")
    with nothing_written(unknown):
        response = english(as_user(security)).post(
            resolve_url(unknown), {"outcome": "relocated", "note": "moved it"}
        )
    assert response.status_code == 400
    assert "Select a valid choice." in response.content.decode()


def test_whoever_scanned_the_stocktake_cannot_resolve_its_discrepancies(
    as_user, security, closed, cabinet
):
    # An officer who took part in the count (through the API) reviews it: separation of duties.
    from compliance.models import Scan

    Scan.objects.create(
        stocktake=closed, location=cabinet, tag="NW-A", result="expected_here", scanned_by=security
    )
    missing = found(closed, "missing")
    with nothing_written(missing, Terminal):
        response = english(as_user(security)).post(
            resolve_url(missing),
            {"outcome": "lost_or_stolen", "note": "not found anywhere", "confirm": "1"},
        )
    assert response.status_code == 400
    assert "someone else must resolve" in response.content.decode()


def test_resolving_every_discrepancy_completes_the_stocktake(as_user, security, closed, cabinet):
    client = english(as_user(security))
    outcomes = {
        "found_elsewhere": "relocated",
        "unknown_tag": "written_off",
        "missing": "lost_or_stolen",
    }
    for kind, outcome in outcomes.items():
        response = client.post(
            resolve_url(found(closed, kind)),
            {"outcome": outcome, "note": f"checked {kind}", "confirm": "1"},
            follow=True,
        )
        assert response.status_code == 200
    body = response.content.decode()
    assert "it is completed" in body
    closed.refresh_from_db()
    assert closed.status == StockTake.Status.COMPLETED
    assert Terminal.objects.get(asset_tag="NW-C").location == cabinet  # relocated
    assert Terminal.objects.get(asset_tag="NW-B").status == Terminal.Status.LOST
    assert AuditEvent.objects.filter(action="discrepancy.resolved").count() == 3
    detail = client.get(detail_url(found(closed, "missing"))).content.decode()
    assert "checked missing" in detail
    assert 'name="outcome"' not in detail  # nothing left to decide


def test_the_details_name_the_recorded_location(as_user, security, closed):
    page = english(as_user(security)).get(detail_url(found(closed, "found_elsewhere")))
    body = page.content.decode()
    assert "Recorded location" in body
    assert "本店 &gt; 本館 &gt; 3F &gt; 端末保管室 &gt; 保管庫2" in body


# Evidence -------------------------------------------------------------------------------------


def _upload(client, discrepancy, name="photo.png", content=PNG):
    return client.post(
        reverse("compliance:evidence_upload", kwargs={"pk": discrepancy.pk}),
        {"file": SimpleUploadedFile(name, content)},
        follow=True,
    )


def test_a_security_officer_attaches_a_photo_and_reads_it_back(as_user, security, closed, media):
    missing = found(closed, "missing")
    client = english(as_user(security))
    response = _upload(client, missing)
    assert "The evidence was attached." in response.content.decode()
    evidence = DiscrepancyEvidence.objects.get()
    assert evidence.uploaded_by == security
    assert (media / evidence.file.name).read_bytes() == PNG
    event = AuditEvent.objects.get(action="discrepancy.evidence_added")
    assert len(event.details["sha256"]) == 64
    download = reverse("compliance:evidence_download", kwargs={"pk": evidence.pk})
    assert download in response.content.decode()
    got = client.get(download)
    assert got.status_code == 200
    assert b"".join(got.streaming_content) == PNG
    assert got["Content-Type"] == "image/png"
    assert "sandbox" in got["Content-Security-Policy"]


def test_a_document_is_only_ever_downloaded(as_user, security, closed):
    client = as_user(security)
    _upload(client, found(closed, "missing"), name="memo.pdf", content=b"%PDF-1.4 memo")
    evidence = DiscrepancyEvidence.objects.get()
    got = client.get(reverse("compliance:evidence_download", kwargs={"pk": evidence.pk}))
    assert got["Content-Disposition"].startswith("attachment")


def test_evidence_is_refused_to_those_without_the_evidence_permission(
    as_user, security, facilities, auditor, contractor, closed
):
    _upload(as_user(security), found(closed, "missing"))
    evidence = DiscrepancyEvidence.objects.get()
    download = reverse("compliance:evidence_download", kwargs={"pk": evidence.pk})
    assert as_user(facilities).get(download).status_code == 403
    assert as_user(contractor).get(download).status_code == 403
    assert as_user(auditor).get(download).status_code == 200
    facilities_page = as_user(facilities).get(detail_url(found(closed, "missing")))
    assert download not in facilities_page.content.decode()


def test_evidence_has_no_public_url(client, as_user, security, closed):
    _upload(as_user(security), found(closed, "missing"))
    evidence = DiscrepancyEvidence.objects.get()
    client.logout()
    assert client.get(f"/media/{evidence.file.name}").status_code == 404
    download = reverse("compliance:evidence_download", kwargs={"pk": evidence.pk})
    assert client.get(download).status_code == 302  # to the login page


def test_only_readers_of_evidence_may_attach_it(as_user, facilities, auditor, closed):
    missing = found(closed, "missing")
    for persona in (facilities, auditor):
        with nothing_written(missing):
            response = as_user(persona).post(
                reverse("compliance:evidence_upload", kwargs={"pk": missing.pk}),
                {"file": SimpleUploadedFile("photo.png", PNG)},
            )
        assert response.status_code == 403


def test_a_file_that_a_browser_would_run_is_refused(as_user, security, closed):
    missing = found(closed, "missing")
    with nothing_written(missing):
        response = _upload(
            english(as_user(security)), missing, name="page.html", content=b"<script>"
        )
    assert response.status_code == 400
    assert "File extension “html” is not allowed." in response.content.decode()


# Policy checks --------------------------------------------------------------------------------


def test_running_the_policy_checks_records_what_they_find(as_user, security, open_room):
    make_terminal(location=open_room, asset_tag="NW-LOBBY")
    client = english(as_user(security))
    response = client.post(reverse("compliance:policy_checks_run"), follow=True)
    body = response.content.decode()
    assert "recorded 2 new or reopened discrepancies" in body  # the terminal, and no count yet
    assert "NW-LOBBY" in body
    again = client.post(reverse("compliance:policy_checks_run"), follow=True)
    assert "found nothing new" in again.content.decode()
    assert Discrepancy.objects.filter(subject="NW-LOBBY").count() == 1


def test_a_file_that_is_not_a_photo_or_pdf_is_refused_on_the_page(client, security, operator):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.factories import make_discrepancy, make_location, make_terminal

    terminal = make_terminal(location=make_location(code="ev-site", custodian=operator))
    discrepancy = make_discrepancy(kind="missing", terminal=terminal)
    client.force_login(security)
    fake = SimpleUploadedFile("photo.png", b"<html><script>alert(1)</script>", "image/png")
    with nothing_written(discrepancy):
        response = client.post(
            f"/terminals/discrepancies/{discrepancy.pk}/evidence/",
            {"file": fake},
            HTTP_ACCEPT_LANGUAGE="en",
        )
    assert response.status_code == 400
    assert "Attach a photo" in response.content.decode()
