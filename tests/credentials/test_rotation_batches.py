"""Rotations in batches: one message per transaction's rotations, set-based statements in the
worker, one failure that fails nobody else, and the login-ID check through its index."""

import pytest
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

import credentials.rotation as rotation_module
from core.models import AuditEvent
from credentials.connectors import ConnectorError
from credentials.models import (
    Account,
    AccountState,
    Rotation,
    RotationStatus,
    SecretStatus,
    SecretVersion,
)
from credentials.rotation import (
    BATCH_SIZE,
    BATCH_TASK,
    ONE_ROTATION_TASK,
    _prepare_pending,
    rotation_force,
    rotation_request,
    rotation_resend_stale,
    rotations_perform,
    rotations_request,
)
from credentials.secrets import secret_plaintext
from credentials.targets import unused_login_ids
from credentials.tasks import rotate_accounts
from tests.credentials.helpers import rotated_account
from tests.factories import make_terminal


def rotated_accounts(target, location, count, capture) -> list[Account]:
    """`count` accounts whose first rotations ran (requested together: one batch)."""
    from credentials.accounts import account_create

    with capture(execute=True), transaction.atomic():
        for _ in range(count):
            account_create(
                actor=None, target_system=target, terminal=make_terminal(location=location)
            )
    accounts = list(Account.objects.filter(target_system=target).order_by("pk"))
    assert {a.state for a in accounts} == {AccountState.LOCKED}
    return accounts


@pytest.fixture
def messages(monkeypatch):
    """From its call on, the messages the rotations' hand-off sends: (task name, ids), not
    run."""

    def start() -> list:
        sent = []

        def enqueue(task_name, *args):
            sent.append((task_name, args[0]))
            return True

        monkeypatch.setattr(rotation_module, "enqueue", enqueue)
        return sent

    return start


class StatementCounter:
    """Statements sent in a block, and how many of them the audit trail's record_event and
    record_events sent."""

    def __init__(self, monkeypatch):
        self.audit = 0
        self._capture = CaptureQueriesContext(connection)
        for name in ("record_event", "record_events"):
            monkeypatch.setattr(
                rotation_module, name, self._counting(getattr(rotation_module, name))
            )

    def _counting(self, append):
        def counted(**kwargs):
            before = len(self._capture.captured_queries)
            try:
                return append(**kwargs)
            finally:
                self.audit += len(self._capture.captured_queries) - before

        return counted

    def __enter__(self):
        self._capture.__enter__()
        return self

    def __exit__(self, *exc_info):
        self._capture.__exit__(*exc_info)

    @property
    def total(self) -> int:
        return len(self._capture.captured_queries)

    @property
    def own(self) -> int:
        return self.total - self.audit


@pytest.mark.parametrize("count", [1, BATCH_SIZE])
def test_a_batch_of_rotations_costs_a_fixed_number_of_statements_and_its_audit_events(
    local_target, cabinet, django_capture_on_commit_callbacks, monkeypatch, count
):
    accounts = rotated_accounts(local_target, cabinet, count, django_capture_on_commit_callbacks)
    with (
        StatementCounter(monkeypatch) as requesting,
        django_capture_on_commit_callbacks(execute=False) as callbacks,
    ):
        rotations = rotations_request(accounts=accounts, reason="forced", actor=None)
    assert len(callbacks) == 1  # one hand-off for the transaction's rotations
    with StatementCounter(monkeypatch) as working:
        callbacks[0]()  # the message, and the worker running it (eager)

    assert (
        Rotation.objects.filter(
            pk__in=[r.pk for r in rotations], status=RotationStatus.SUCCEEDED
        ).count()
        == count
    )
    # Set-based: the same statements for 1 rotation as for 50, besides one event each.
    # (4 of the worker's are the savepoints of the test's transaction: BEGIN and COMMIT on a
    # worker, which are not statements Django counts)
    assert requesting.own <= 3
    assert working.own <= 16
    if count == BATCH_SIZE:
        assert working.total <= 10 * count
    print(
        f"\n{count} rotation(s): request {requesting.total} statements "
        f"({requesting.audit} audit), hand-off and worker {working.total} ({working.audit} audit)"
        f"; {(requesting.total + working.total) / count:.1f} per rotation"
    )


def test_the_rotations_of_one_transaction_travel_in_one_message(
    local_target, cabinet, django_capture_on_commit_callbacks, messages
):
    accounts = rotated_accounts(local_target, cabinet, 4, django_capture_on_commit_callbacks)
    sent = messages()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        first = rotation_request(account=accounts[0], reason="return", actor=None)
        second = rotation_request(account=accounts[1], reason="return", actor=None)
    with django_capture_on_commit_callbacks(execute=True):
        third = rotation_request(account=accounts[2], reason="return", actor=None)
    assert sent == [(BATCH_TASK, [first.pk, second.pk]), (ONE_ROTATION_TASK, third.pk)]
    assert Rotation.objects.filter(dispatched_at__isnull=False, reason="return").count() == 3


def test_a_rolled_back_transaction_sends_nothing_and_the_next_one_sends_its_own(
    local_target, cabinet, django_capture_on_commit_callbacks, messages
):
    accounts = rotated_accounts(local_target, cabinet, 2, django_capture_on_commit_callbacks)
    sent = messages()
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            rotation_request(account=accounts[0], reason="return", actor=None)
            raise RuntimeError("the return failed")
        kept = rotation_request(account=accounts[1], reason="return", actor=None)
    assert sent == [(ONE_ROTATION_TASK, kept.pk)]


def test_the_sweeper_resends_in_batches(
    local_target, cabinet, django_capture_on_commit_callbacks, messages
):
    accounts = rotated_accounts(
        local_target, cabinet, BATCH_SIZE + 3, django_capture_on_commit_callbacks
    )
    with django_capture_on_commit_callbacks(execute=False):  # the messages are lost
        rotations = rotations_request(accounts=accounts, reason="forced", actor=None)
    sent = messages()
    assert rotation_resend_stale(older_than_seconds=0) == BATCH_SIZE + 3
    ids = [r.pk for r in rotations]
    assert sent == [(BATCH_TASK, ids[:BATCH_SIZE]), (BATCH_TASK, ids[BATCH_SIZE:])]


def test_a_target_that_refuses_one_account_fails_that_account_only(
    local_target, cabinet, django_capture_on_commit_callbacks, monkeypatch, security
):
    security.email = "sec@example.jp"
    security.save()
    accounts = rotated_accounts(local_target, cabinet, 5, django_capture_on_commit_callbacks)
    refused = accounts[2].login_id

    def refuse_one(self, *, old_login_id, new_login_id, password):
        if old_login_id == refused:
            raise ConnectorError("insufficientAccessRights (50)", retryable=False)

    monkeypatch.setattr("credentials.connectors.local.LocalConnector.apply_rotation", refuse_one)
    with django_capture_on_commit_callbacks(execute=True):
        rotations = rotations_request(accounts=accounts, reason="forced", actor=None)

    statuses = {r.account_id: Rotation.objects.get(pk=r.pk).status for r in rotations}
    assert statuses.pop(accounts[2].pk) == RotationStatus.FAILED
    assert set(statuses.values()) == {RotationStatus.SUCCEEDED}
    assert Account.objects.get(pk=accounts[2].pk).state == AccountState.ROTATION_FAILED
    assert (
        AuditEvent.objects.filter(
            action="rotation.succeeded", object_id__in=[str(r.pk) for r in rotations]
        ).count()
        == 4
    )
    assert len(mail.outbox) == 1 and accounts[2].terminal.asset_tag in mail.outbox[0].subject


def test_an_account_the_target_could_not_reach_is_retried_alone_and_then_succeeds(
    local_target, cabinet, django_capture_on_commit_callbacks, monkeypatch, settings
):
    settings.ROTATION_MAX_RETRIES = 2
    settings.ROTATION_RETRY_BASE_DELAY_SECONDS = 0
    accounts = rotated_accounts(local_target, cabinet, 3, django_capture_on_commit_callbacks)
    flaky, calls = accounts[0].login_id, []

    def unreachable_once(self, *, old_login_id, new_login_id, password):
        calls.append(old_login_id)
        if old_login_id == flaky and calls.count(flaky) == 1:
            raise ConnectorError("connection refused")

    monkeypatch.setattr(
        "credentials.connectors.local.LocalConnector.apply_rotation", unreachable_once
    )
    with django_capture_on_commit_callbacks(execute=True):
        rotations = rotations_request(accounts=accounts, reason="forced", actor=None)

    done = Rotation.objects.filter(pk__in=[r.pk for r in rotations])
    assert set(done.values_list("status", flat=True)) == {RotationStatus.SUCCEEDED}
    assert dict(done.values_list("account_id", "attempts")) == {
        accounts[0].pk: 2,
        accounts[1].pk: 1,
        accounts[2].pk: 1,
    }
    assert calls.count(flaky) == 2 and len(calls) == 4  # the retry carried the flaky one only


def test_a_rotation_that_breaks_the_set_based_step_is_left_to_the_sweeper_alone(
    local_target, cabinet, django_capture_on_commit_callbacks
):
    accounts = rotated_accounts(local_target, cabinet, 3, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        rotations = rotations_request(accounts=accounts, reason="forced", actor=None)
    # Something else moved one account on under its rotation: making it current must refuse.
    Account.objects.filter(pk=accounts[1].pk).update(state=AccountState.LOCKED)

    outcomes = rotations_perform(rotation_ids=[r.pk for r in rotations])

    assert outcomes[rotations[0].pk] == outcomes[rotations[2].pk] == RotationStatus.SUCCEEDED
    assert isinstance(outcomes[rotations[1].pk], Exception)
    assert Rotation.objects.get(pk=rotations[1].pk).status == RotationStatus.REQUESTED
    assert Rotation.objects.filter(status=RotationStatus.SUCCEEDED, reason="forced").count() == 2


def test_a_batch_message_with_a_rotation_that_no_longer_exists_runs_the_others(
    local_target, cabinet, django_capture_on_commit_callbacks
):
    accounts = rotated_accounts(local_target, cabinet, 2, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        rotations = rotations_request(accounts=accounts, reason="forced", actor=None)
    missing = max(r.pk for r in rotations) + 1000

    rotate_accounts.delay([missing, *(r.pk for r in rotations)])

    assert set(
        Rotation.objects.filter(pk__in=[r.pk for r in rotations]).values_list("status", flat=True)
    ) == {RotationStatus.SUCCEEDED}


def test_a_new_rotation_after_a_failed_one_pushes_the_values_left_pending(
    local_target, terminal, django_capture_on_commit_callbacks, monkeypatch, security
):
    account = rotated_account(local_target, terminal, django_capture_on_commit_callbacks)
    pushed = []

    def record(self, *, old_login_id, new_login_id, password):
        pushed.append((new_login_id, password))
        if len(pushed) == 1:
            raise ConnectorError("refused", retryable=False)

    monkeypatch.setattr("credentials.connectors.local.LocalConnector.apply_rotation", record)
    with django_capture_on_commit_callbacks(execute=True):
        failed = rotation_request(account=account, reason="return", actor=None)
    assert Rotation.objects.get(pk=failed.pk).status == RotationStatus.FAILED
    left = SecretVersion.objects.get(account=account, status=SecretStatus.PENDING)

    with django_capture_on_commit_callbacks(execute=True):
        (retry,) = rotation_force(actor=security, accounts=[Account.objects.get(pk=account.pk)])

    retry.refresh_from_db()
    account.refresh_from_db()
    assert (retry.reason, retry.status) == ("retry", RotationStatus.SUCCEEDED)
    assert pushed[0] == pushed[1]
    assert account.current_version_id == left.pk
    assert (account.login_id, secret_plaintext(account.current_version)) == pushed[0]


def test_new_login_ids_are_checked_in_one_statement_through_the_index(local_target, cabinet):
    # A target with many accounts, as the planner sees it: looking up by target alone would
    # read every one of them.
    from terminals.models import Terminal

    terminals = Terminal.objects.bulk_create(
        Terminal(asset_tag=f"BULK-{n:05d}", location=cabinet, custodian=cabinet.custodian)
        for n in range(3000)
    )
    Account.objects.bulk_create(
        Account(target_system=local_target, terminal=t, login_id=f"nwbulk{n:05d}", state="locked")
        for n, t in enumerate(terminals)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Account._meta.db_table}")
    with CaptureQueriesContext(connection) as queries:
        login_ids = unused_login_ids(local_target, 40)
    assert len(set(login_ids)) == 40 and len(queries) == 1
    sql = queries.captured_queries[0]["sql"]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # 3,000 rows are still few enough to read whole, and the planner may then prefer
            # the foreign key's index on the target alone: without either (rolled back with
            # the test), only an index on both columns answers.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexdef LIKE %s",
                [Account._meta.db_table, "%(target_system_id)"],
            )
            for (name,) in cursor.fetchall():
                cursor.execute(f'DROP INDEX "{name}"')
            cursor.execute("EXPLAIN " + sql)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "account_target_login_id" in plan


def test_a_worker_takes_up_the_rotations_waiting_and_their_own_messages_leave_them_alone(
    local_target, cabinet, django_capture_on_commit_callbacks
):
    """A burst of returns: each asked for its rotation in its own transaction (one message
    each). The first message's worker rotates the others with it, in one batch."""
    accounts = rotated_accounts(local_target, cabinet, 4, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        rotations = [
            rotation_request(account=account, reason="forced", actor=None) for account in accounts
        ]
    first, *others = rotations

    outcomes = rotations_perform(rotation_ids=[first.pk], coalesce=2)

    # Itself and the two oldest waiting, in one batch; the last one waits for its message.
    assert outcomes == {
        first.pk: RotationStatus.SUCCEEDED,
        others[0].pk: RotationStatus.SUCCEEDED,
        others[1].pk: RotationStatus.SUCCEEDED,
    }
    assert Rotation.objects.get(pk=others[2].pk).status == RotationStatus.REQUESTED
    # Their own messages find them done: nothing is pushed or rotated twice.
    assert rotations_perform(rotation_ids=[others[0].pk]) == {
        others[0].pk: RotationStatus.SUCCEEDED
    }
    assert SecretVersion.objects.filter(account=accounts[1]).count() == 2


def test_a_rotation_in_another_workers_hands_is_left_to_it(
    local_target, cabinet, django_capture_on_commit_callbacks
):
    accounts = rotated_accounts(local_target, cabinet, 2, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        first = rotation_request(account=accounts[0], reason="forced", actor=None)
        taken = rotation_request(account=accounts[1], reason="forced", actor=None)
    # Another worker took `taken` up and is pushing it: its own message comes meanwhile.
    pushes = _prepare_pending([first.pk], coalesce=1)
    assert [p.rotation.pk for p in pushes] == [first.pk, taken.pk]
    claimed = Rotation.objects.get(pk=taken.pk)
    assert claimed.claimed_until is not None and claimed.dispatched_at is not None

    assert rotations_perform(rotation_ids=[taken.pk]) == {taken.pk: RotationStatus.REQUESTED}
    assert (
        SecretVersion.objects.filter(account=accounts[1], status=SecretStatus.PENDING).count() == 1
    )
