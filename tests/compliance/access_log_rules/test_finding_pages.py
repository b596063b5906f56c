"""How a sign-in finding reads: its page (in either language, times in Tokyo time), the list's
filter, and the API."""

import datetime

from django.urls import reverse
from django.utils import translation
from django.utils.formats import date_format

from compliance.access_log_rules import access_log_analyse
from compliance.models import Discrepancy
from tests.compliance.access_log_rules.conftest import HOUR, T0, UTC, findings

LATE_UTC = datetime.time(23, 30)
NEXT_DAY = T0.date() + datetime.timedelta(days=1)


def _old_id_finding(lent, account, terminal, sign_in):
    """A sign-in with the login ID the return rotated away, logged in UTC."""
    loan = lent.checkout(terminal, at=T0)
    account.refresh_from_db()
    old = account.login_id
    lent.give_back(loan, at=T0 + HOUR)
    # 23:30 UTC on the day of the loan: 08:30 the next morning in Tokyo.
    event = sign_in(datetime.datetime.combine(T0.date(), LATE_UTC, UTC), old, host="retail-pc-07")
    access_log_analyse()
    (finding,) = findings()
    return finding, event, loan


def test_the_page_shows_the_sign_in_and_what_it_was_judged_against_in_english(
    lent, account, terminal, sign_in, security, as_user, contractor_org
):
    finding, event, loan = _old_id_finding(lent, account, terminal, sign_in)
    client = as_user(security)
    client.cookies["django_language"] = "en"

    page = client.get(reverse("compliance:discrepancy_detail", args=[finding.pk]))

    text = page.content.decode()
    assert page.status_code == 200
    assert "Sign-in judged" in text
    # The reader's time zone, not the log's.
    assert f"{date_format(NEXT_DAY, 'N j, Y')}, 08:30 (+0900)" in text
    assert event.login_id in text and "retail-pc-07" in text
    assert event.raw_line in text
    assert f"Line {event.line_number} of cc-access.csv" in text
    assert terminal.asset_tag in text and f"#{loan.pk}" in text
    assert contractor_org.name in text
    assert "The login ID valid at that moment: this one was rotated away or deleted at" in text
    assert "Access log analysis" in text


def test_the_page_shows_the_sign_in_in_japanese(
    lent, account, terminal, sign_in, security, as_user, contractor_org
):
    finding, event, _loan = _old_id_finding(lent, account, terminal, sign_in)
    client = as_user(security)
    client.cookies["django_language"] = "ja"

    page = client.get(reverse("compliance:discrepancy_detail", args=[finding.pk]))

    text = page.content.decode()
    assert page.status_code == 200
    day = NEXT_DAY
    assert f"{day.year}年{day.month}月{day.day}日 08:30 (+0900)" in text
    assert "ログインID" in text and event.login_id in text
    assert event.raw_line in text
    assert contractor_org.name in text
    with translation.override("en"):
        english_month = date_format(NEXT_DAY, "N")
    assert f"{english_month} {NEXT_DAY.day}," not in text  # no English date on it


def test_the_list_filters_the_findings_of_the_access_logs(
    lent, account, terminal, sign_in, security, as_user
):
    from tests.factories import make_discrepancy

    finding, _event, _loan = _old_id_finding(lent, account, terminal, sign_in)
    policy = make_discrepancy(kind="secret_too_old", terminal=terminal, subject="account:1")
    client = as_user(security)
    url = reverse("compliance:discrepancy_list")

    access_log = client.get(url, {"found_by": "access_log"}).context["page"].object_list
    by_policy = client.get(url, {"found_by": "policy"}).context["page"].object_list

    assert list(access_log) == [finding]
    assert list(by_policy) == [policy]
    assert list(Discrepancy.objects.filter(pk=finding.pk)) == [finding]


def test_the_api_gives_the_sign_in_of_a_finding(lent, account, terminal, sign_in, security, api_as):
    finding, event, loan = _old_id_finding(lent, account, terminal, sign_in)

    answer = api_as(security).get("/api/v1/discrepancies/", {"kind": "sign_in_old_login_id"}).json()

    (row,) = answer["results"]
    assert row["id"] == finding.pk and row["loan"] == loan.pk
    assert row["sign_in"] == {
        "id": event.pk,
        "occurred_at": f"{NEXT_DAY.isoformat()}T08:30:00+09:00",
        "login_id": event.login_id,
        "result": "success",
        "source_host": "retail-pc-07",
        "source_address": None,
        "target_system": "cc",
        "line_number": event.line_number,
        "raw_line": event.raw_line,
    }
    assert row["allowed_outcomes"] == ["found", "fixed"]


def test_a_burst_shows_its_first_failure_and_how_many_failed(
    account, sign_in, security, as_user, settings
):
    settings.ACCESS_LOG_FAILURE_BURST_THRESHOLD = 3
    first = sign_in(T0, "admin", result="failure", host="retail-pc-07")
    sign_in(T0 + HOUR / 60, "admin", result="failure", host="retail-pc-07")
    sign_in(T0 + HOUR / 30, "admin", result="failure", host="retail-pc-07")
    access_log_analyse()
    burst = findings("sign_in_failure_burst")[0]
    client = as_user(security)
    client.cookies["django_language"] = "en"

    text = client.get(reverse("compliance:discrepancy_detail", args=[burst.pk])).content.decode()

    assert "First failed sign-in of the burst" in text
    assert first.raw_line in text
    assert "Failed sign-ins in the window" in text
    assert "Fewer than 3 failed sign-ins with one login ID within 600 seconds." in text
