"""A month before a report or training expires: one summary email per recipient, the
contractor's users with their own organization's items and security with every item, once."""

import pytest
from django.core import mail

from core.roles import Role
from lending import supervision
from lending.models import ContractorReport, OperatorTraining
from tests.factories import make_user
from tests.lending.supervision.conftest import accepted_report, training


@pytest.fixture
def officer(security):
    security.email = "sam@operator.example"
    security.save(update_fields=["email"])
    return security


@pytest.fixture
def rival(contractor_org):
    """A user of the other contractor (the factories' kanto-denko), with an email address."""
    user = make_user("ken", Role.CONTRACTOR, contractor_org)
    user.email = "ken@kanto.example"
    user.save(update_fields=["email"])
    return user


def _sent_to(address: str):
    return [message for message in mail.outbox if message.to == [address]]


def test_one_summary_per_recipient_lists_every_item_expiring_within_30_days(
    firm, firm_user, officer, rival, contractor_org
):
    accepted_report(firm, officer, end=20)
    training(firm, officer, "山田 太郎", expires=10)
    training(firm, officer, "佐藤 花子", expires=29)
    training(firm, officer, "鈴木 一郎", expires=31)  # not yet
    training(contractor_org, officer, "高橋 次郎", expires=5)

    assert supervision.supervision_reminders() == 3

    (mine,) = _sent_to(firm_user.email)
    assert "港工事" in mine.body
    assert "山田 太郎" in mine.body and "佐藤 花子" in mine.body
    assert "鈴木 一郎" not in mine.body
    assert "高橋 次郎" not in mine.body  # another contractor's
    assert "3 supervision records expire soon" in mine.subject
    (theirs,) = _sent_to(rival.email)
    assert "高橋 次郎" in theirs.body and "山田 太郎" not in theirs.body
    (securitys,) = _sent_to(officer.email)
    for name in ("港工事", "山田 太郎", "佐藤 花子", "高橋 次郎"):
        assert name in securitys.body


def test_an_item_is_reminded_once(firm, firm_user, officer):
    training(firm, officer, expires=10)
    assert supervision.supervision_reminders() == 2
    assert OperatorTraining.objects.get(contractor=firm).reminder_sent_at is not None
    mail.outbox.clear()
    assert supervision.supervision_reminders() == 0
    assert mail.outbox == []


def test_a_reminder_the_mail_server_refused_is_sent_at_the_next_run(
    firm, firm_user, officer, monkeypatch
):
    training(firm, officer, expires=10)

    def down(*args, **kwargs):
        raise ConnectionRefusedError("mail server down")

    with monkeypatch.context() as patched:
        patched.setattr(supervision, "send_mail", down)
        assert supervision.supervision_reminders() == 0
    assert OperatorTraining.objects.get(contractor=firm).reminder_sent_at is None

    assert supervision.supervision_reminders() == 2
    assert len(_sent_to(firm_user.email)) == 1
    assert OperatorTraining.objects.get(contractor=firm).reminder_sent_at is not None


def test_a_renewed_item_is_not_reminded(firm, firm_user, officer):
    accepted_report(firm, officer, start=-300, end=10)
    accepted_report(firm, officer, start=11, end=370)
    training(firm, officer, expires=10)
    training(firm, officer, "山田太郎", expires=375)
    assert supervision.supervision_reminders() == 0
    assert not ContractorReport.objects.filter(reminder_sent_at__isnull=False).exists()


def test_the_window_follows_the_setting(firm, firm_user, officer, settings):
    settings.SUPERVISION_REMINDER_DAYS = 5
    training(firm, officer, expires=10)
    assert supervision.supervision_reminders() == 0
    settings.SUPERVISION_REMINDER_DAYS = 10
    assert supervision.supervision_reminders() == 2


def test_the_reminder_runs_every_day_from_beat():
    from django.conf import settings

    from lending import tasks

    entry = settings.CELERY_BEAT_SCHEDULE["send-supervision-reminders"]
    assert entry["task"] == tasks.send_supervision_reminders.name
    assert entry["schedule"].hour == {8} and entry["schedule"].day_of_week == set(range(7))
