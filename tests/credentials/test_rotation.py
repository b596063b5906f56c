from datetime import timedelta

import pytest
import time_machine
from celery.app.task import Task
from django.core import mail
from django.utils import timezone

from core.errors import TransitionNotAllowed
from core.models import AuditEvent, OutboxTask
from core.queue import outbox_resend
from credentials.accounts import account_create, account_delete, account_lock, account_unlock
from credentials.connectors import ConnectorError
from credentials.models import AccountState, Rotation, RotationStatus, SecretStatus, SecretVersion
from credentials.rotation import (
    manual_rotation_confirm_set,
    manual_rotation_values,
    manual_rotation_verify,
    rotation_fail,
    rotation_force,
    rotation_perform,
    rotation_request,
    rotation_request_aged,
    rotation_resend_stale,
)
from credentials.secrets import secret_plaintext
from credentials.targets import connector_for, policy_of, target_system_create
from tests.credentials.helpers import rotated_account
from tests.factories import make_user
from tests.support.db import nothing_written


def test_a_new_account_gets_a_random_login_id_and_password_through_its_first_rotation(
    local_target, terminal, django_capture_on_commit_callbacks
):
    account = rotated_account(local_target, terminal, django_capture_on_commit_callbacks)
    assert account.state == AccountState.LOCKED
    assert account.login_id.startswith("nw")
    version = account.current_version
    assert version.status == SecretStatus.CURRENT
    assert version.login_id == account.login_id
    password = secret_plaintext(version)
    assert policy_of(local_target).satisfied_by(password)
    assert password.encode() not in bytes(version.ciphertext)
    assert list(account.login_id_records.values_list("login_id", flat=True)) == [account.login_id]


def test_a_rotation_changes_login_id_and_password_and_keeps_the_old_login_id_on_record(
    local_target, terminal, django_capture_on_commit_callbacks
):
    account = rotated_account(local_target, terminal, django_capture_on_commit_callbacks)
    old_id, old_version = account.login_id, account.current_version
    with django_capture_on_commit_callbacks(execute=True):
        rotation_request(account=account, reason="return", actor=None)
    account.refresh_from_db()
    assert account.login_id != old_id
    assert account.current_version.version == old_version.version + 1
    old_version.refresh_from_db()
    assert old_version.status == SecretStatus.RETIRED
    assert secret_plaintext(account.current_version) != secret_plaintext(old_version)
    records = list(account.login_id_records.order_by("valid_from"))
    assert [r.login_id for r in records] == [old_id, account.login_id]
    assert records[0].valid_until is not None and records[1].valid_until is None
    event = AuditEvent.objects.filter(action="rotation.succeeded").last()
    assert event.details["reason"] == "return"
    assert event.details["old_login_id"] == old_id


def test_the_request_and_the_dispatch_are_separate_so_a_lost_message_loses_nothing(
    local_target, terminal, django_capture_on_commit_callbacks
):
    account = rotated_account(local_target, terminal, django_capture_on_commit_callbacks)
    # The request commits but its message never reaches a worker (callbacks not executed).
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        rotation = rotation_request(account=account, reason="return", actor=None)
    assert len(callbacks) == 1
    assert Rotation.objects.get(pk=rotation.pk).status == RotationStatus.REQUESTED
    assert rotation_resend_stale(older_than_seconds=0) == 1
    rotation.refresh_from_db()
    assert rotation.status == RotationStatus.SUCCEEDED


def test_a_retry_after_a_crash_pushes_the_same_pending_values(
    local_target, terminal, django_capture_on_commit_callbacks, monkeypatch
):
    account = rotated_account(local_target, terminal, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        rotation = rotation_request(account=account, reason="forced", actor=None)
    pushed = []

    def crash_after_push(self, *, old_login_id, new_login_id, password):
        pushed.append((new_login_id, password))
        if len(pushed) == 1:
            raise ConnectorError("worker lost after pushing")

    monkeypatch.setattr(
        "credentials.connectors.local.LocalConnector.apply_rotation", crash_after_push
    )
    with pytest.raises(ConnectorError):
        rotation_perform(rotation_id=rotation.pk)
    assert rotation_perform(rotation_id=rotation.pk) == RotationStatus.SUCCEEDED
    assert pushed[0] == pushed[1]
    account.refresh_from_db()
    assert (account.login_id, secret_plaintext(account.current_version)) == pushed[0]
    assert SecretVersion.objects.filter(account=account, status=SecretStatus.PENDING).count() == 0
    # a duplicate delivery afterwards changes nothing
    assert rotation_perform(rotation_id=rotation.pk) == RotationStatus.SUCCEEDED
    assert (
        AuditEvent.objects.filter(action="rotation.succeeded", object_id=str(rotation.pk)).count()
        == 1
    )


def test_a_rotation_that_keeps_failing_marks_the_account_and_tells_security(
    local_target, terminal, django_capture_on_commit_callbacks, monkeypatch, settings, security
):
    security.email = "sec@example.jp"
    security.save()
    settings.ROTATION_MAX_RETRIES = 2
    settings.ROTATION_RETRY_BASE_DELAY_SECONDS = 0
    account = rotated_account(local_target, terminal, django_capture_on_commit_callbacks)

    def unreachable(self, **kwargs):
        raise ConnectorError("target unreachable: connection refused")

    monkeypatch.setattr("credentials.connectors.local.LocalConnector.apply_rotation", unreachable)
    with django_capture_on_commit_callbacks(execute=True):
        rotation = rotation_request(account=account, reason="return", actor=None)
    rotation.refresh_from_db()
    account.refresh_from_db()
    assert rotation.status == RotationStatus.FAILED
    assert rotation.attempts == 3
    assert account.state == AccountState.ROTATION_FAILED
    assert AuditEvent.objects.filter(action="rotation.failed").count() == 1
    assert len(mail.outbox) == 1
    assert terminal.asset_tag in mail.outbox[0].subject
    assert mail.outbox[0].to == ["sec@example.jp"]


def test_a_second_request_while_one_is_open_reuses_it(
    local_target, terminal, django_capture_on_commit_callbacks
):
    account = rotated_account(local_target, terminal, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        first = rotation_request(account=account, reason="return", actor=None)
        second = rotation_request(account=account, reason="forced", actor=None)
    assert first.pk == second.pk
    assert AuditEvent.objects.filter(action="rotation.requested").count() == 2  # initial + this one


def test_aged_secrets_are_rotated_and_fresh_ones_are_not(
    local_target, terminal, cabinet, django_capture_on_commit_callbacks
):
    import datetime

    from django.utils import timezone

    from tests.factories import make_terminal

    aged = rotated_account(local_target, terminal, django_capture_on_commit_callbacks)
    fresh = rotated_account(
        local_target, make_terminal(location=cabinet), django_capture_on_commit_callbacks
    )
    later = timezone.now() + datetime.timedelta(days=local_target.max_secret_age_days)
    SecretVersion.objects.filter(pk=fresh.current_version_id).update(became_current_at=later)
    with django_capture_on_commit_callbacks(execute=True):
        assert rotation_request_aged(now=later) == 1
    assert (
        Rotation.objects.filter(account=aged, reason="scheduled", status="succeeded").count() == 1
    )
    assert not Rotation.objects.filter(account=fresh, reason="scheduled").exists()


def test_only_security_can_force_a_rotation(
    local_target, terminal, facilities, security, django_capture_on_commit_callbacks
):
    from core.errors import RuleViolation

    account = rotated_account(local_target, terminal, django_capture_on_commit_callbacks)
    with nothing_written(account, Rotation), pytest.raises(RuleViolation):
        rotation_force(actor=facilities, accounts=[account])
    with django_capture_on_commit_callbacks(execute=True):
        (rotation,) = rotation_force(actor=security, accounts=[account])
    rotation.refresh_from_db()
    assert (rotation.reason, rotation.status, rotation.requested_by) == (
        "forced",
        "succeeded",
        security,
    )


def test_a_deleted_account_cannot_be_unlocked(
    local_target, terminal, django_capture_on_commit_callbacks
):
    account = rotated_account(local_target, terminal, django_capture_on_commit_callbacks)
    account_delete(account=account, actor=None)
    with nothing_written(account, SecretVersion), pytest.raises(TransitionNotAllowed):
        account_unlock(account=account, actor=None)


def test_unlock_and_lock_are_events(local_target, terminal, django_capture_on_commit_callbacks):
    account = rotated_account(local_target, terminal, django_capture_on_commit_callbacks)
    account = account_unlock(account=account, actor=None)
    assert account.state == AccountState.UNLOCKED
    assert connector_for(local_target).verify(
        account.login_id, secret_plaintext(account.current_version)
    )
    account = account_lock(account=account, actor=None)
    assert account.state == AccountState.LOCKED
    actions = list(
        AuditEvent.objects.filter(object_type="credentials.account").values_list(
            "action", flat=True
        )
    )
    assert actions[-2:] == ["account.unlocked", "account.locked"]


def test_manual_targets_need_an_administrator_and_a_second_person(
    terminal, django_capture_on_commit_callbacks, operator
):
    from core.errors import RuleViolation

    target = target_system_create(
        actor=None, code="takuso", name="託送業務システム", connector="manual"
    )
    admin_a, admin_b = (
        make_user("admin-a", "security", operator),
        make_user("admin-b", "security", operator),
    )
    stranger = make_user("stranger", "security", operator)
    # Named an administrator by mistake: read-only roles are never shown a password.
    reader = make_user("reader", "auditor", operator)
    target.administrators.add(admin_a, admin_b, reader)
    with django_capture_on_commit_callbacks(execute=True):
        account = account_create(actor=None, target_system=target, terminal=terminal)
    rotation = account.rotations.get()
    assert rotation.status == RotationStatus.AWAITING_ADMIN
    with nothing_written(rotation, account), pytest.raises(RuleViolation):
        manual_rotation_values(rotation=rotation, actor=stranger)
    with nothing_written(rotation, account), pytest.raises(RuleViolation) as refused:
        manual_rotation_values(rotation=rotation, actor=reader)
    assert "never shown a password" in refused.value.message
    login_id, password = manual_rotation_values(rotation=rotation, actor=admin_a)
    assert policy_of(target).satisfied_by(password)
    manual_rotation_confirm_set(rotation=rotation, actor=admin_a)
    with nothing_written(rotation, account, SecretVersion), pytest.raises(RuleViolation):
        manual_rotation_verify(rotation=rotation, actor=admin_a)
    account.refresh_from_db()
    assert account.state == AccountState.ROTATION_PENDING  # still blocks lending
    manual_rotation_verify(rotation=rotation, actor=admin_b)
    account.refresh_from_db()
    assert account.state == AccountState.LOCKED
    assert account.login_id == login_id
    assert secret_plaintext(account.current_version) == password


def test_a_returned_terminal_is_stored_again_only_after_its_accounts_were_rotated(
    local_target, terminal, django_capture_on_commit_callbacks
):
    from core.errors import RuleViolation
    from terminals import services as terminal_services

    account = rotated_account(local_target, terminal, django_capture_on_commit_callbacks)
    terminal_services.terminal_reserve(terminal=terminal, actor=None)
    terminal_services.terminal_lend(terminal=terminal, actor=None)
    terminal_services.terminal_mark_returned(
        terminal=terminal, actor=None, to_location=terminal.location
    )
    with django_capture_on_commit_callbacks(execute=False):
        rotation_request(account=account, reason="return", actor=None)
    with nothing_written(terminal, account), pytest.raises(RuleViolation) as refused:
        terminal_services.terminal_return_to_storage(terminal=terminal, actor=None)
    assert any("rotation is pending" in r for r in refused.value.reasons)
    rotation_resend_stale(older_than_seconds=0)
    terminal = terminal_services.terminal_return_to_storage(terminal=terminal, actor=None)
    assert terminal.status == "in_storage"


def test_retiring_a_terminal_deletes_its_accounts(
    local_target, terminal, django_capture_on_commit_callbacks
):
    from terminals import services as terminal_services

    account = rotated_account(local_target, terminal, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        terminal_services.terminal_retire(terminal=terminal, actor=None, reason="end of life")
    account.refresh_from_db()
    assert account.state == AccountState.DELETED
    assert account.login_id_records.get().valid_until is not None


def test_the_alert_of_a_failed_rotation_outlives_a_broker_that_is_down(
    local_target, terminal, security, monkeypatch, django_capture_on_commit_callbacks
):
    security.email = "sec@example.jp"
    security.save()
    account = rotated_account(local_target, terminal, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        rotation = rotation_request(account=account, reason="return", actor=None)

    def broker_down(self, *args, **kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with monkeypatch.context() as down:
        down.setattr(Task, "delay", broker_down)
        with django_capture_on_commit_callbacks(execute=True):
            rotation_fail(rotation_id=rotation.pk, error="target unreachable")
    assert mail.outbox == []
    assert OutboxTask.objects.filter(task_name="credentials.tasks.alert_rotation_failed").exists()

    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert outbox_resend() == 1

    (alert,) = mail.outbox
    assert alert.to == ["sec@example.jp"]
    assert terminal.asset_tag in alert.subject and "target unreachable" in alert.body
