"""The audit trail page: security officers and auditors read the events newest first, in
words, filtered from the URL as the API filters them, with the verdict on the hash chain."""

import datetime as dt
import io
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from core.audit import chain_check, record_event, seal_pending
from core.models import AuditEvent
from core.tasks import check_audit_chain
from terminals import services as inventory

AUDIT = reverse("audit_trail")
TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture
def english(as_user, settings):
    def sign_in(user):
        client = as_user(user)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    return sign_in


def _seqs(response) -> list[int]:
    return [
        int(s)
        for s in re.findall(
            r'<td class="nowrap" data-label="#">(\d+)</td>', response.content.decode()
        )
    ]


def test_events_are_listed_newest_first_in_words(english, auditor, security, card):
    inventory.access_card_lend(card=card, actor=security, reason="災害対応")
    seal_pending()
    response = english(auditor).get(AUDIT)
    page = response.content.decode()
    events = list(AuditEvent.objects.order_by("-seq").values_list("seq", flat=True))
    assert _seqs(response) == events
    assert "Access card lent" in page
    assert "From status: In storage" in page
    assert "To status: Lent" in page
    assert ">access_card.lent<" not in page  # the code is a tooltip, not the text
    assert "from_status" not in page


def test_a_security_officer_may_read_it_and_facilities_staff_may_not(as_user, security, facilities):
    assert as_user(security).get(AUDIT).status_code == 200
    assert as_user(facilities).get(AUDIT).status_code == 403


def test_the_filters_in_the_url_narrow_the_list(english, auditor, security, facilities, card):
    lent = inventory.access_card_lend(card=card, actor=security, reason="")
    record_event(
        actor=facilities, action="terminal.updated", object_type="terminals.terminal", object_id="7"
    )
    seal_pending()
    lent_event = AuditEvent.objects.get(action="access_card.lent")
    client = english(auditor)

    assert _seqs(client.get(AUDIT, {"actor": "fiona"})) == [
        AuditEvent.objects.get(action="terminal.updated").seq
    ]
    assert _seqs(client.get(AUDIT, {"action": "access_card.lent"})) == [lent_event.seq]
    about_card = client.get(AUDIT, {"object_type": "terminals.accesscard", "object_id": lent.pk})
    assert set(_seqs(about_card)) == set(
        AuditEvent.objects.filter(object_type="terminals.accesscard").values_list("seq", flat=True)
    )
    assert _seqs(client.get(AUDIT, {"object_type": "terminals.accesscard", "object_id": "0"})) == []


def test_the_period_is_whole_days_in_japan_time(english, auditor):
    # 23:30 on 26 November in Tokyo is still 26 November, though it is 14:30 UTC.
    with time_machine.travel(dt.datetime(2026, 11, 26, 23, 30, tzinfo=TOKYO), tick=False):
        late_id = record_event(actor=None, action="test.late", object_type="t", object_id="1")
    with time_machine.travel(dt.datetime(2026, 11, 27, 0, 10, tzinfo=TOKYO), tick=False):
        early_id = record_event(actor=None, action="test.early", object_type="t", object_id="2")
    seal_pending()
    late = AuditEvent.objects.get(pk=late_id)
    early = AuditEvent.objects.get(pk=early_id)
    client = english(auditor)

    assert _seqs(client.get(AUDIT, {"date_from": "2026-11-26", "date_to": "2026-11-26"})) == [
        late.seq
    ]
    assert _seqs(client.get(AUDIT, {"date_from": "2026-11-27"})) == [early.seq]
    assert _seqs(client.get(AUDIT, {"date_to": "2026-11-25"})) == []


def test_a_bad_date_is_a_message_on_its_field_not_an_error(english, auditor):
    response = english(auditor).get(AUDIT, {"date_from": "26/11/2026"})
    assert response.status_code == 200
    assert "Enter a valid date." in response.content.decode()


def test_the_pages_keep_the_filters(english, auditor, monkeypatch):
    monkeypatch.setattr("core.views.PAGE_SIZE", 2)
    for i in range(3):
        record_event(actor=None, action="test.page", object_type="t", object_id=str(i))
    record_event(actor=None, action="test.other", object_type="t", object_id="9")
    seal_pending()
    client = english(auditor)
    first = client.get(AUDIT, {"action": "test.page"})
    next_link = re.search(r'href="([^"]*)" rel="next"', first.content.decode()).group(1)
    assert "action=test.page" in next_link
    second = client.get(AUDIT + next_link.replace("&amp;", "&"))
    assert len(_seqs(second)) == 1
    assert AuditEvent.objects.get(seq=_seqs(second)[0]).action == "test.page"


def test_it_says_the_chain_is_intact_with_how_many_events_and_when(english, auditor):
    for i in range(3):
        record_event(actor=None, action="test.x", object_type="t", object_id=str(i))
    seal_pending()
    with time_machine.travel(dt.datetime(2026, 11, 30, 15, 4, 5, tzinfo=TOKYO), tick=False):
        check_audit_chain()  # what beat runs every AUDIT_CHECK_SECONDS
    with time_machine.travel(dt.datetime(2026, 11, 30, 15, 6, tzinfo=TOKYO), tick=False):
        page = english(auditor).get(AUDIT, {"action": "test.none"}).content.decode()
    assert "The hash chain is intact: 3 events verified." in page
    assert "Last checked at 2026-11-30 15:04:05." in page
    assert "check that the scheduler" not in page


def _forge(seq: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {AuditEvent._meta.db_table} SET details = %s "
            "WHERE id = (SELECT event_id FROM core_auditseal WHERE seq = %s)",
            ['{"forged": true}', seq],
        )


def test_it_says_where_the_chain_broke_at_its_last_check(english, auditor):
    ids = [
        record_event(actor=None, action="test.x", object_type="t", object_id=str(i))
        for i in range(4)
    ]
    seal_pending()
    events = list(AuditEvent.objects.filter(pk__in=ids).order_by("id"))
    chain_check()
    _forge(events[2].seq)
    # Reading the page does not walk the trail: the rewrite shows from the next check on.
    assert "The hash chain is intact: 4 events verified." in (
        english(auditor).get(AUDIT).content.decode()
    )
    chain_check()
    page = english(auditor).get(AUDIT).content.decode()
    assert f"The hash chain is broken at event #{events[2].seq}" in page
    assert "the content does not match its hash" in page
    assert "2 events before it verified" in page


def test_before_the_first_check_and_after_a_late_one_it_says_so(english, auditor, settings):
    settings.AUDIT_CHECK_SECONDS = 300
    page = english(auditor).get(AUDIT).content.decode()
    assert "The hash chain has not been checked yet: it is checked every 5 minutes." in page
    with time_machine.travel(dt.datetime(2026, 11, 30, 15, 0, tzinfo=TOKYO), tick=False):
        chain_check()
    with time_machine.travel(dt.datetime(2026, 11, 30, 15, 16, tzinfo=TOKYO), tick=False):
        page = english(auditor).get(AUDIT).content.decode()
    assert "Last checked at 2026-11-30 15:00:00." in page
    assert "It is checked every 5 minutes: check that the scheduler and a worker are running." in (
        page
    )


def test_the_command_keeps_its_outcome_for_the_page(english, auditor):
    for i in range(2):
        record_event(actor=None, action="test.x", object_type="t", object_id=str(i))
    call_command("verify_audit_chain", stdout=io.StringIO())  # seals what is pending first
    assert "The hash chain is intact: 2 events verified." in (
        english(auditor).get(AUDIT).content.decode()
    )


def test_beat_checks_the_chain_on_its_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["check-audit-chain"]
    assert entry["task"] == check_audit_chain.name
    assert entry["schedule"] == settings.AUDIT_CHECK_SECONDS


def test_the_api_still_returns_the_codes_and_shares_the_page_filters(
    api_as, auditor, security, card
):
    inventory.access_card_lend(card=card, actor=security, reason="")
    body = api_as(auditor).get("/api/v1/events/", {"action": "access_card.lent"}).json()
    assert [e["action"] for e in body["results"]] == ["access_card.lent"]
    assert body["results"][0]["details"]["from_status"] == "in_storage"
    today = dt.datetime.now(TOKYO).date().isoformat()
    dated = api_as(auditor).get("/api/v1/events/", {"date_from": today}).json()
    assert dated["count"] == AuditEvent.objects.count()
    bad = api_as(auditor).get("/api/v1/events/", {"date_to": "tomorrow"})
    assert bad.status_code == 400
    assert "date_to" in bad.json()


def test_events_the_sealer_has_not_reached_are_listed_first_and_counted(english, auditor, settings):
    record_event(actor=None, action="test.sealed", object_type="t", object_id="1")
    seal_pending()
    chain_check()
    record_event(actor=None, action="test.waiting", object_type="t", object_id="2")

    page = english(auditor).get(AUDIT).content.decode()
    assert page.index('data-action="test.waiting"') < page.index('data-action="test.sealed"')
    assert "1 event is waiting to be sealed into the chain" in page
    assert "The hash chain is intact: 1 event verified." in page
    assert AuditEvent.objects.filter(seq__isnull=True).count() == 1  # the page wrote nothing
