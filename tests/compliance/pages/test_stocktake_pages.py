"""Stock-take pages: who may open which, the scanning page (each result at once, blind counts,
undo, progress), closing with its summary, and the report."""

import csv
import io
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance import services as stocktakes
from compliance.models import Scan, StockTake
from core.models import AuditEvent
from terminals import services
from tests.factories import make_location, make_terminal
from tests.support.db import nothing_written


@pytest.fixture
def counted(cabinet, second_cabinet):
    """Two terminals in cabinet 1, one in cabinet 2, one lent from cabinet 1."""
    terminals = {
        tag: make_terminal(location=cabinet, asset_tag=tag, hostname=f"host-{tag.lower()}")
        for tag in ("NW-A", "NW-B")
    }
    terminals["NW-C"] = make_terminal(location=second_cabinet, asset_tag="NW-C")
    lent = make_terminal(location=cabinet, asset_tag="NW-LENT")
    services.terminal_reserve(terminal=lent, actor=None)
    terminals["NW-LENT"] = services.terminal_lend(terminal=lent, actor=None)
    return terminals


@pytest.fixture
def stocktake(site, counted, security):
    return stocktakes.stocktake_open(site=site, actor=security, reason="manual")


@pytest.fixture
def open_count(site, counted, security):
    """The same count, but not blind: scanning staff see the expected list."""
    return stocktakes.stocktake_open(site=site, actor=security, reason="manual", blind=False)


def _pages(pk):
    return [
        ("compliance:stocktake_list", {}),
        ("compliance:stocktake_open", {}),
        ("compliance:stocktake_detail", {"pk": pk}),
        ("compliance:stocktake_scan", {"pk": pk}),
        ("compliance:stocktake_close", {"pk": pk}),
        ("compliance:stocktake_report", {"pk": pk}),
        ("compliance:stocktake_report_csv", {"pk": pk}),
    ]


def scan_url(stocktake, location=None):
    url = reverse("compliance:stocktake_scan", kwargs={"pk": stocktake.pk})
    return f"{url}?location={location.pk}" if location else url


def post_scan(client, stocktake, location, tag):
    return client.post(scan_url(stocktake), {"location": location.pk, "tag": tag}, follow=True)


def test_an_anonymous_visitor_is_sent_to_the_login_page_from_every_stocktake_page(
    client, stocktake
):
    for name, kwargs in _pages(stocktake.pk):
        url = reverse(name, kwargs=kwargs)
        response = client.get(url)
        assert response.status_code == 302, name
        assert response["Location"] == f"{reverse('login')}?next={url}"


def test_a_contractor_is_refused_every_stocktake_page(as_user, contractor, stocktake):
    client = as_user(contractor)
    for name, kwargs in _pages(stocktake.pk):
        assert client.get(reverse(name, kwargs=kwargs)).status_code == 403, name


@pytest.mark.parametrize("persona", ["facilities", "security", "auditor"])
def test_every_staff_role_reads_the_list_and_the_stocktake(request, as_user, stocktake, persona):
    client = as_user(request.getfixturevalue(persona))
    listing = client.get(reverse("compliance:stocktake_list"))
    assert listing.status_code == 200
    assert "本店" in listing.content.decode()
    detail = client.get(reverse("compliance:stocktake_detail", kwargs={"pk": stocktake.pk}))
    assert detail.status_code == 200


def test_facilities_staff_scan_but_cannot_open_or_close_a_stocktake(
    as_user, facilities, stocktake, site
):
    client = as_user(facilities)
    assert client.get(scan_url(stocktake)).status_code == 200
    open_ = reverse("compliance:stocktake_open")
    close = reverse("compliance:stocktake_close", kwargs={"pk": stocktake.pk})
    assert client.get(open_).status_code == 403
    assert client.get(close).status_code == 403
    with nothing_written(stocktake):
        assert client.post(open_, {"site": site.pk}).status_code == 403
        assert client.post(close).status_code == 403


@pytest.mark.parametrize("persona", ["security", "auditor"])
def test_who_does_not_scan_cannot_open_the_scanning_page_nor_record_a_scan(
    request, as_user, stocktake, cabinet, persona
):
    client = as_user(request.getfixturevalue(persona))
    assert client.get(scan_url(stocktake, cabinet)).status_code == 403
    with nothing_written(stocktake):
        response = client.post(scan_url(stocktake), {"location": cabinet.pk, "tag": "NW-A"})
    assert response.status_code == 403


def test_the_navigation_shows_stocktakes_and_discrepancies_to_staff_only(
    as_user, facilities, contractor
):
    staff_page = as_user(facilities).get(reverse("dashboard")).content.decode()
    assert reverse("compliance:stocktake_list") in staff_page
    assert reverse("compliance:discrepancy_list") in staff_page
    contractor_page = as_user(contractor).get(reverse("dashboard")).content.decode()
    assert reverse("compliance:stocktake_list") not in contractor_page


# Opening --------------------------------------------------------------------------------------


def test_a_security_officer_opens_a_blind_stocktake_by_default(as_user, security, site, counted):
    client = as_user(security)
    form = client.get(reverse("compliance:stocktake_open")).content.decode()
    checkbox = re.search(r'<input type="checkbox" name="blind"[^>]*>', form).group(0)
    assert " checked" in checkbox
    response = client.post(
        reverse("compliance:stocktake_open"), {"site": site.pk, "blind": "on"}, follow=True
    )
    stocktake = StockTake.objects.get()
    assert response.redirect_chain[-1][0] == reverse(
        "compliance:stocktake_detail", kwargs={"pk": stocktake.pk}
    )
    assert stocktake.blind
    assert stocktake.reason == StockTake.Reason.MANUAL
    assert stocktake.opened_by == security
    assert stocktake.expectations.count() == 4


def test_a_second_open_stocktake_of_a_site_is_refused_on_the_form(as_user, security, stocktake):
    client = as_user(security)
    client.cookies["django_language"] = "en"
    with nothing_written(stocktake):
        response = client.post(
            reverse("compliance:stocktake_open"), {"site": stocktake.site.pk, "blind": "on"}
        )
    assert response.status_code == 200
    assert "A stock-take of 本店 is already open." in response.content.decode()


def test_the_list_flags_an_overdue_stocktake(as_user, facilities, stocktake):
    StockTake.objects.filter(pk=stocktake.pk).update(
        due_at=timezone.now() - timezone.timedelta(days=1)
    )
    page = as_user(facilities).get(reverse("compliance:stocktake_list"), HTTP_ACCEPT_LANGUAGE="en")
    body = page.content.decode()
    assert 'class="is-overdue"' in body
    assert "badge overdue" in body


def test_the_list_filters_by_status(as_user, facilities, stocktake, security):
    stocktakes.stocktake_close(stocktake=stocktake, actor=security)
    client = as_user(facilities)
    detail_url = reverse("compliance:stocktake_detail", kwargs={"pk": stocktake.pk})
    closed = client.get(reverse("compliance:stocktake_list"), {"status": "closed"})
    assert detail_url in closed.content.decode()
    still_open = client.get(reverse("compliance:stocktake_list"), {"status": "open"})
    assert detail_url not in still_open.content.decode()


# Scanning -------------------------------------------------------------------------------------


def test_the_scanning_page_asks_for_the_location_first(as_user, facilities, stocktake, cabinet):
    page = as_user(facilities).get(scan_url(stocktake)).content.decode()
    assert 'id="choose_location"' in page
    assert "本店 &gt; 本館 &gt; 3F &gt; 端末保管室 &gt; 保管庫1" in page
    assert 'name="tag"' not in page
    chosen = as_user(facilities).get(scan_url(stocktake, cabinet)).content.decode()
    assert 'name="tag"' in chosen
    assert "autofocus" in chosen


@pytest.mark.parametrize(
    ("tag", "css", "english"),
    [
        ("NW-A", "result-expected_here", "Expected here"),
        ("NW-C", "result-belongs_elsewhere", "Belongs elsewhere"),
        ("NW-LENT", "result-recorded_as_lent", "Recorded as lent"),
        ("NOT-A-TAG", "result-unknown", "Unknown tag"),
    ],
)
def test_each_scan_shows_its_result_at_once(
    as_user, facilities, stocktake, cabinet, tag, css, english
):
    client = as_user(facilities)
    client.cookies["django_language"] = "en"
    response = post_scan(client, stocktake, cabinet, tag)
    body = response.content.decode()
    assert response.status_code == 200
    assert f'class="last-scan {css}"' in body
    assert english in body.split('class="last-scan')[1][:600]
    assert tag in body.split('class="last-scan')[1][:600]


def test_a_second_scan_of_the_same_tag_says_it_was_already_scanned(
    as_user, facilities, stocktake, cabinet
):
    client = as_user(facilities)
    post_scan(client, stocktake, cabinet, "NW-A")
    body = post_scan(client, stocktake, cabinet, "NW-A").content.decode()
    assert 'class="last-scan result-repeated"' in body


def test_a_terminal_found_at_another_location_is_reported_not_moved(
    as_user, facilities, stocktake, cabinet, second_cabinet, counted
):
    body = post_scan(as_user(facilities), stocktake, cabinet, "NW-C").content.decode()
    assert "保管庫2" in body.split('class="last-scan')[1][:800]  # where it is recorded
    counted["NW-C"].refresh_from_db()
    assert counted["NW-C"].location == second_cabinet


def test_the_progress_bars_advance_with_each_expected_terminal(
    as_user, facilities, stocktake, cabinet
):
    client = as_user(facilities)
    before = client.get(scan_url(stocktake, cabinet)).content.decode()
    assert 'id="progress-here-bar" max="2" value="0"' in before
    assert 'id="progress-all-bar" max="3" value="0"' in before
    after = post_scan(client, stocktake, cabinet, "NW-A").content.decode()
    assert 'id="progress-here-bar" max="2" value="1"' in after
    assert 'id="progress-all-bar" max="3" value="1"' in after


def test_reloading_the_page_after_a_scan_does_not_record_it_again(
    as_user, facilities, stocktake, cabinet
):
    client = as_user(facilities)
    response = post_scan(client, stocktake, cabinet, "NW-A")
    client.get(response.redirect_chain[-1][0])
    assert Scan.objects.count() == 1


def test_an_empty_tag_is_refused_on_the_form(as_user, facilities, stocktake, cabinet):
    client = as_user(facilities)
    client.cookies["django_language"] = "en"
    with nothing_written(stocktake):
        response = client.post(scan_url(stocktake), {"location": cabinet.pk, "tag": "  "})
    assert response.status_code == 400
    assert "Scan or type an asset tag." in response.content.decode()


def test_a_location_of_another_site_cannot_be_chosen(as_user, facilities, stocktake, operator):
    elsewhere = make_location(code="branch", name="支店", custodian=operator)
    client = as_user(facilities)
    page = client.get(scan_url(stocktake)).content.decode()
    assert "支店" not in page
    with nothing_written(stocktake):
        response = client.post(scan_url(stocktake), {"location": elsewhere.pk, "tag": "NW-A"})
    assert response.status_code == 400


def test_blind_counts_hide_the_expected_list_from_the_scanning_staff(
    as_user, facilities, stocktake, cabinet
):
    body = as_user(facilities).get(scan_url(stocktake, cabinet)).content.decode()
    assert "expected-list" not in body
    assert "NW-B" not in body
    assert "host-nw-b" not in body


def test_an_open_count_shows_the_expected_list_with_found_terminals_ticked(
    as_user, facilities, open_count, cabinet
):
    body = post_scan(as_user(facilities), open_count, cabinet, "NW-A").content.decode()
    expected = body.split('class="expected-list"')[1].split("</ul>")[0]
    assert "NW-A" in expected and "NW-B" in expected
    assert "NW-LENT" not in expected  # lent: not expected on the shelf
    a_item = expected.split("NW-A")[0].rsplit("<li", 1)[1]
    b_item = expected.split("NW-B")[0].rsplit("<li", 1)[1]
    assert 'class="found"' in a_item
    assert 'class="not-found"' in b_item


def test_the_recent_scans_are_the_users_own(as_user, facilities, stocktake, cabinet, operator):
    from core.roles import Role
    from tests.factories import make_user

    colleague = make_user("frank", Role.FACILITIES, operator)
    stocktakes.scan_record(stocktake=stocktake, location=cabinet, tag="NW-B", actor=colleague)
    body = post_scan(as_user(facilities), stocktake, cabinet, "NW-A").content.decode()
    recent = body.split('class="recent-scans"')[1].split("</ol>")[0]
    assert "NW-A" in recent
    assert "NW-B" not in recent


def test_undo_takes_back_the_last_scan_and_the_progress(as_user, facilities, stocktake, cabinet):
    client = as_user(facilities)
    client.cookies["django_language"] = "en"
    post_scan(client, stocktake, cabinet, "NW-A")
    response = client.post(
        reverse("compliance:stocktake_undo", kwargs={"pk": stocktake.pk}),
        {"location": cabinet.pk},
        follow=True,
    )
    body = response.content.decode()
    assert "The scan of NW-A at 保管庫1 was undone." in body
    assert 'id="progress-here-bar" max="2" value="0"' in body
    assert Scan.objects.get().undone_at is not None
    assert 'class="undone"' in body


def test_a_closed_stocktake_takes_no_more_scans(as_user, facilities, security, stocktake, cabinet):
    stocktakes.stocktake_close(stocktake=stocktake, actor=security)
    with nothing_written(stocktake):
        response = as_user(facilities).post(
            scan_url(stocktake), {"location": cabinet.pk, "tag": "NW-A"}, follow=True
        )
    assert response.redirect_chain[-1][0] == reverse(
        "compliance:stocktake_detail", kwargs={"pk": stocktake.pk}
    )


# Closing --------------------------------------------------------------------------------------


def _scan_some(stocktake, cabinet, facilities):
    for tag in ("NW-A", "NW-C", "NOT-A-TAG"):
        stocktakes.scan_record(stocktake=stocktake, location=cabinet, tag=tag, actor=facilities)


def test_closing_asks_for_confirmation_and_says_what_it_will_record(
    as_user, security, facilities, stocktake, cabinet
):
    _scan_some(stocktake, cabinet, facilities)
    client = as_user(security)
    client.cookies["django_language"] = "en"
    page = client.get(reverse("compliance:stocktake_close", kwargs={"pk": stocktake.pk}))
    body = page.content.decode()
    assert "Closing now records 3 discrepancies" in body
    assert "Missing: 1" in body
    assert "Unknown tag: 1" in body
    stocktake.refresh_from_db()
    assert stocktake.status == StockTake.Status.OPEN


def test_closing_shows_the_summary_with_parents_rolling_up_their_children(
    as_user, security, facilities, stocktake, cabinet
):
    _scan_some(stocktake, cabinet, facilities)
    client = as_user(security)
    client.cookies["django_language"] = "en"
    response = client.post(
        reverse("compliance:stocktake_close", kwargs={"pk": stocktake.pk}), follow=True
    )
    stocktake.refresh_from_db()
    assert stocktake.status == StockTake.Status.CLOSED
    assert AuditEvent.objects.filter(action="stocktake.closed").count() == 1
    body = response.content.decode()
    assert "was closed" in body
    table = body.split('class="summary-table"')[1].split("</table>")[0]
    rows = {
        row.split("</th>")[0].rsplit(">", 1)[1]: row
        for row in table.split("<tbody>")[1].split("</tr>")
        if "</th>" in row
    }
    # Missing NW-B and found-elsewhere NW-C and the unknown tag are all at cabinet 1.
    assert set(rows) == {"本店", "本館", "3F", "端末保管室", "保管庫1"}
    for name in rows:
        assert "<strong>3</strong>" in rows[name]
    assert 'class="depth-0"' in table and 'class="depth-4"' in table


def test_a_stocktake_that_matches_completes_on_closing(
    as_user, security, facilities, site, cabinet
):
    make_terminal(location=cabinet, asset_tag="ONLY")
    stocktake = stocktakes.stocktake_open(site=site, actor=security, reason="manual")
    stocktakes.scan_record(stocktake=stocktake, location=cabinet, tag="ONLY", actor=facilities)
    client = as_user(security)
    client.cookies["django_language"] = "en"
    body = client.post(
        reverse("compliance:stocktake_close", kwargs={"pk": stocktake.pk}), follow=True
    ).content.decode()
    assert "no discrepancy" in body
    stocktake.refresh_from_db()
    assert stocktake.status == StockTake.Status.COMPLETED


# Report ---------------------------------------------------------------------------------------


@pytest.fixture
def reviewed(stocktake, cabinet, facilities, security, auditor):
    _scan_some(stocktake, cabinet, facilities)
    stocktakes.stocktake_close(stocktake=stocktake, actor=security)
    unknown = stocktake.discrepancies.get(kind="unknown_tag")
    stocktakes.discrepancy_resolve(
        discrepancy=unknown, actor=security, outcome="written_off", note="業者のデモ機、返却済み"
    )
    return stocktake


def test_the_report_prints_every_discrepancy_with_its_outcome(as_user, auditor, reviewed):
    client = as_user(auditor)
    client.cookies["django_language"] = "en"
    body = client.get(
        reverse("compliance:stocktake_report", kwargs={"pk": reviewed.pk})
    ).content.decode()
    assert "data-print" in body
    assert "report-page" in body
    for subject in ("NW-B", "NW-C", "NOT-A-TAG"):
        assert subject in body
    assert "Written off" in body
    assert "業者のデモ機、返却済み" in body


def test_the_report_csv_is_utf8_with_a_byte_order_mark(as_user, auditor, reviewed):
    client = as_user(auditor)
    client.cookies["django_language"] = "en"
    response = client.get(reverse("compliance:stocktake_report_csv", kwargs={"pk": reviewed.pk}))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    raw = response.content
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:3] == ["No.", "Kind", "Subject"]
    by_subject = {row[2]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert set(by_subject) == {"NW-B", "NW-C", "NOT-A-TAG"}
    unknown = by_subject["NOT-A-TAG"]
    assert (unknown["Kind"], unknown["Outcome"]) == ("Unknown tag", "Written off")
    assert unknown["Note"] == "業者のデモ機、返却済み"
    # where the one found elsewhere was recorded
    assert "保管庫2" in by_subject["NW-C"]["Recorded location"]


def test_the_page_and_the_api_download_the_same_stocktake_report(as_user, auditor, reviewed):
    client = as_user(auditor)
    page = client.get(reverse("compliance:stocktake_report_csv", kwargs={"pk": reviewed.pk}))
    api = client.get(f"/api/v1/stocktakes/{reviewed.pk}/report.csv")
    assert api.status_code == 200
    assert page.content == api.content


def test_the_report_is_refused_to_a_contractor(as_user, contractor, reviewed):
    url = reverse("compliance:stocktake_report_csv", kwargs={"pk": reviewed.pk})
    assert as_user(contractor).get(url).status_code == 403


# Dashboard ------------------------------------------------------------------------------------


def test_the_dashboard_shows_open_stocktakes_and_the_discrepancies_waiting(
    as_user, facilities, security, stocktake, site, cabinet, operator
):
    other_site = make_location(code="branch", name="支店", custodian=operator)
    stocktakes.stocktake_open(site=other_site, actor=security, reason="manual")
    stocktakes.stocktake_close(stocktake=stocktake, actor=security)  # 3 missing at 本店
    client = as_user(facilities)
    client.cookies["django_language"] = "en"
    body = client.get(reverse("dashboard")).content.decode()
    assert "Open stock-takes" in body
    assert "支店" in body
    assert "3 discrepancies wait for review." in body


def test_the_menu_marks_the_stocktake_and_discrepancy_pages_as_the_current_page(as_user, security):
    client = as_user(security)
    for url, label in (
        ("/terminals/stocktakes/", "Stock-takes"),
        ("/terminals/discrepancies/", "Discrepancies"),
    ):
        body = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert f'aria-current="page">{label}</a>' in body
