"""/metrics in Prometheus' text format: only for allowed addresses or the bearer token, and
its figures follow the data."""

import datetime
import re

import pytest
from django.db import connection
from django.utils import timezone

from compliance.models import Discrepancy, DiscrepancyStatus
from core.audit import chain_check, record_event, seal_pending
from credentials.models import Account, Rotation
from credentials.rotation import rotation_request
from lending.models import Loan
from tests.factories import make_discrepancy
from tests.lending.api.helpers import checkout

SAMPLE = re.compile(r"^(nwterm_[a-z_]+)(\{[^}]*\})? (\S+)$")


def scrape(client, **headers) -> dict[str, float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    values = {}
    for line in response.content.decode().splitlines():
        if line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample: {line!r}"
        values[match[1] + (match[2] or "")] = float(match[3])
    return values


def test_every_figure_follows_the_data(client, facilities, approved, terminals, settings):
    before = scrape(client)
    assert before["nwterm_loans_open"] == 0
    assert before["nwterm_findings_open"] == 0

    loan = checkout(approved, terminals[0], facilities)
    Loan.objects.filter(pk=loan.pk).update(due_at=timezone.now() - datetime.timedelta(hours=1))
    checkout(approved, terminals[1], facilities)
    make_discrepancy(kind="missing", terminal=terminals[2])
    resolved = make_discrepancy(kind="unknown_tag", subject="NW-99999")
    Discrepancy.objects.filter(pk=resolved.pk).update(status=DiscrepancyStatus.RESOLVED)
    record_event(actor=None, action="test.unsealed", obj=terminals[2], details={})
    account = Account.objects.filter(terminal=terminals[2]).first()
    pending = rotation_request(account=account, reason="forced", actor=None)
    Rotation.objects.filter(pk=pending.pk).update(
        status="requested", requested_at=timezone.now() - datetime.timedelta(minutes=10)
    )

    after = scrape(client)
    assert after["nwterm_loans_open"] == 2
    assert after["nwterm_loans_overdue"] == 1
    assert after["nwterm_findings_open"] == 1
    assert after["nwterm_audit_events_unsealed"] >= 1
    assert after['nwterm_rotations{status="requested"}'] == 1
    assert after["nwterm_rotation_oldest_pending_age_seconds"] >= 600
    assert (
        after['nwterm_rotations{status="succeeded"}']
        == before['nwterm_rotations{status="succeeded"}']
    )


def test_the_chains_last_check_is_a_figure_an_alert_can_watch(client, db):
    never = scrape(client)
    assert never["nwterm_audit_chain_broken"] == 0
    assert never["nwterm_audit_chain_check_age_seconds"] == float("inf")
    for i in range(2):
        record_event(actor=None, action="test.x", object_type="t", object_id=str(i))
    seal_pending()
    chain_check()
    assert scrape(client)["nwterm_audit_chain_broken"] == 0
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE core_auditevent SET action = 'forged' "
            "WHERE id = (SELECT event_id FROM core_auditseal WHERE seq = 1)"
        )
    chain_check()
    after = scrape(client)
    assert after["nwterm_audit_chain_broken"] == 1
    assert 0 <= after["nwterm_audit_chain_check_age_seconds"] < 60


def test_a_scrape_takes_a_few_queries(client, db, django_assert_max_num_queries):
    with django_assert_max_num_queries(10):
        scrape(client)


@pytest.mark.parametrize("address", ["203.0.113.9", "10.0.0.8"])
def test_another_address_is_refused(client, db, address):
    response = client.get("/metrics", REMOTE_ADDR=address)

    assert response.status_code == 403
    assert b"nwterm_" not in response.content


def test_an_allowed_network_and_the_token_let_prometheus_in(client, db, settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    settings.METRICS_TOKEN = "prom-token-0123456789"

    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    with_token = client.get(
        "/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer prom-token-0123456789"
    )
    assert with_token.status_code == 200
    wrong = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 403
