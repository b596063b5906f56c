"""The audit trail's sealer: events are written with no lock and no read of the chain, a sealer
(one at a time, under a lease) chains them in id order, signs checkpoints that a witness outside
the database keeps, and verification catches a history rewritten with recomputed hashes."""

import base64
import datetime as dt
import json
import logging
import socket
import threading

import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.audit import record_event, seal_pending, unsealed_backlog, verify_chain
from core.models import (
    AuditCheckpoint,
    AuditEvent,
    AuditSealGap,
    event_hash,
    event_hash_reference,
)
from core.sealer import (
    GENESIS_HASH,
    checkpoint_message,
    key_id,
    signing_key,
    take_lease,
)

postgresql_only = pytest.mark.postgresql_only


def new_key() -> str:
    return base64.b64encode(Ed25519PrivateKey.generate().private_bytes_raw()).decode()


@pytest.fixture
def deferred(settings):
    """Settings with a signing key of this test's own; events wait for the sealer."""
    settings.AUDIT_SIGNING_KEY = new_key()
    return settings


def write(n: int, action: str = "test.happened") -> list[int]:
    """The ids of n new events."""
    return [
        record_event(actor=None, action=action, object_type="t", object_id=str(i), details={"i": i})
        for i in range(n)
    ]


def seqs_by_id() -> list[tuple[int, int | None]]:
    return list(AuditEvent.objects.order_by("id").values_list("id", "seq"))


# Writing --------------------------------------------------------------------------------------


def test_recording_an_event_is_one_insert_and_leaves_it_unsealed(db, deferred):
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        event_id = record_event(actor=None, action="test.one", object_type="t", object_id="1")
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) == 1, statements
    assert statements[0].startswith('INSERT INTO "core_auditevent"')
    event = AuditEvent.objects.get(pk=event_id)
    assert (event.seq, event.prev_hash, event.hash) == (None, None, None)


@pytest.mark.django_db(transaction=True)
@postgresql_only
def test_two_transactions_record_events_at_once_without_waiting_for_each_other():
    first_inserted, release_first = threading.Event(), threading.Event()
    done: dict[str, bool] = {}

    def first():
        try:
            with transaction.atomic():
                record_event(actor=None, action="test.first", object_type="t", object_id="1")
                first_inserted.set()
                release_first.wait(10)
        finally:
            connections.close_all()

    def second():
        try:
            first_inserted.wait(10)
            with transaction.atomic():
                record_event(actor=None, action="test.second", object_type="t", object_id="2")
            done["second"] = True
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    threads[1].join(timeout=5)
    # The second committed while the first transaction was still open: nothing serialised them.
    assert done.get("second") is True
    release_first.set()
    threads[0].join(timeout=10)
    assert AuditEvent.objects.count() == 2


# Sealing --------------------------------------------------------------------------------------


def test_the_sealer_chains_pending_events_in_id_order_after_the_sealed_ones(db, settings):
    write(2)
    assert seal_pending().sealed == 2
    write(3)
    result = seal_pending()

    rows = seqs_by_id()
    assert [seq for _id, seq in rows] == [1, 2, 3, 4, 5]
    assert result.held_lease
    chain = list(AuditEvent.objects.order_by("seq").values_list("prev_hash", "hash"))
    assert chain[0][0] == GENESIS_HASH
    assert all(chain[i][0] == chain[i - 1][1] for i in range(1, 5))
    assert verify_chain() == (5, None)


def test_the_sealer_seals_in_batches(db, deferred):
    deferred.AUDIT_SEAL_BATCH = 2
    write(5)
    assert seal_pending(max_batches=1).sealed == 2
    assert seal_pending().sealed == 3
    assert [seq for _id, seq in seqs_by_id()] == [1, 2, 3, 4, 5]


def test_an_event_rolled_back_leaves_a_gap_the_sealer_does_not_wait_for(db, deferred):
    write(1)
    with pytest.raises(RuntimeError), transaction.atomic():
        record_event(actor=None, action="test.undone", object_type="t", object_id="x")
        raise RuntimeError("the caller's transaction fails")
    write(1)
    assert seal_pending().sealed == 2
    assert verify_chain() == (2, None)


class SlowWriter:
    """A writer in a thread of its own whose transaction holds a new event's id (a lower one
    than any written after it) until `end` commits or rolls it back."""

    def __init__(self, *, commit: bool = True):
        self.commit = commit
        self.inserted, self.finish, self.finished = (threading.Event() for _ in range(3))
        self.thread = threading.Thread(target=self._run)
        self.thread.start()
        assert self.inserted.wait(10)

    def _run(self) -> None:
        try:
            with transaction.atomic():
                self.event_id = write(1, "test.slow")[0]
                self.inserted.set()
                self.finish.wait(10)
                transaction.set_rollback(not self.commit)
            self.finished.set()
        finally:
            connections.close_all()

    def end(self) -> None:
        self.finish.set()
        assert self.finished.wait(10)
        self.thread.join(timeout=10)


@pytest.mark.django_db(transaction=True)
@postgresql_only
def test_an_event_committed_after_a_higher_id_is_sealed_before_it_never_skipped(settings):
    """The lower id's transaction commits last: the sealer waits for it, then seals both in id
    order."""
    settings.AUDIT_SIGNING_KEY = new_key()
    slow = SlowWriter()
    fast = write(1, "test.fast")[0]  # a higher id, committed first
    assert fast > slow.event_id

    assert seal_pending().sealed == 0  # the lower id may still come: the sealer waits
    assert AuditEvent.objects.get(pk=fast).seq is None

    slow.end()
    assert seal_pending().sealed == 2
    assert AuditEvent.objects.get(pk=slow.event_id).seq == 1
    assert AuditEvent.objects.get(pk=fast).seq == 2
    assert verify_chain() == (2, None)


@pytest.mark.django_db(transaction=True)
@postgresql_only
def test_an_event_committed_past_the_grace_is_sealed_after_higher_ids_never_lost(settings, caplog):
    """A transaction holds a lower id longer than AUDIT_SEAL_GRACE_SECONDS: the sealer goes on
    past it, remembers the gap with the sessions that were open, and seals the event once it
    commits, at the head of the chain; a gap whose id was rolled back is forgotten."""
    settings.AUDIT_SIGNING_KEY = new_key()
    settings.AUDIT_SEAL_GRACE_SECONDS = 0
    settings.AUDIT_SEAL_WAIT_MS = 0

    slow = SlowWriter()
    fast = write(1, "test.fast")[0]
    assert seal_pending().sealed == 1  # the fast one: the slow one's gap is past the grace
    gap = AuditSealGap.objects.get()  # from the first id (ids are not reset between tests)
    assert gap.first_id <= slow.event_id == gap.last_id
    assert seal_pending().sealed == 0  # still open: the gap stays
    assert AuditSealGap.objects.count() == 1

    slow.end()
    assert unsealed_backlog().count == 1
    with caplog.at_level(logging.WARNING, logger="core.audit"):
        assert seal_pending().sealed == 1
    assert f"Audit event id {slow.event_id} is sealed after id {fast}" in caplog.text
    assert AuditEvent.objects.get(pk=slow.event_id).seq == 2  # after the higher id, never lost
    assert not AuditSealGap.objects.exists()
    assert unsealed_backlog().count == 0

    rolled_back = SlowWriter(commit=False)
    write(1, "test.fast")
    assert seal_pending().sealed == 1
    assert AuditSealGap.objects.count() == 1
    rolled_back.end()
    assert seal_pending().sealed == 0
    assert not AuditSealGap.objects.exists()  # rolled back: nothing to wait for any more
    assert verify_chain() == (3, None)


def test_a_second_sealer_does_nothing_while_the_first_holds_the_lease(db, deferred):
    write(2)
    assert take_lease("the-other-sealer")

    result = seal_pending(holder="me")
    assert (result.held_lease, result.sealed) == (False, 0)
    assert AuditEvent.objects.filter(seq__isnull=True).count() == 2

    # The other sealer died without releasing it: once it expires, the next one takes over.
    later = timezone.now() + dt.timedelta(seconds=deferred.AUDIT_SEAL_LEASE_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        result = seal_pending(holder="me")
    assert (result.held_lease, result.sealed) == (True, 2)


def test_a_sealer_that_finished_lets_the_next_one_in_at_once(db, deferred):
    write(1)
    assert seal_pending(holder="first").sealed == 1
    write(1)
    assert seal_pending(holder="second").sealed == 1


# Checkpoints and witnesses --------------------------------------------------------------------


def test_checkpoints_every_n_events_are_signed_and_witnessed(db, deferred, tmp_path):
    deferred.AUDIT_CHECKPOINT_EVENTS = 3
    deferred.AUDIT_SEAL_BATCH = 3
    write(7)
    seal_pending()

    checkpoints = list(AuditCheckpoint.objects.order_by("seq"))
    assert [c.seq for c in checkpoints] == [3, 6]  # the 7th waits for the next 3 or the time
    public = signing_key().public_key()
    for checkpoint in checkpoints:
        assert checkpoint.head_hash == AuditEvent.objects.get(seq=checkpoint.seq).hash
        assert checkpoint.key_id == key_id(public)
        public.verify(  # raises when the signature does not cover this head
            base64.b64decode(checkpoint.signature),
            checkpoint_message(
                checkpoint.seq, checkpoint.head_hash, checkpoint.created_at, checkpoint.key_id
            ),
        )
        assert checkpoint.witnessed_at is not None and checkpoint.witness_pending == ""

    with open(deferred.AUDIT_WITNESS_FILE, encoding="utf-8") as witness:
        lines = [json.loads(line) for line in witness]
    assert [(line["seq"], line["hash"]) for line in lines] == [
        (c.seq, c.head_hash) for c in checkpoints
    ]


def test_a_checkpoint_is_due_after_its_time_even_with_few_events(db, deferred):
    deferred.AUDIT_CHECKPOINT_EVENTS = 1000
    deferred.AUDIT_CHECKPOINT_SECONDS = 300
    write(1)
    seal_pending()
    write(1)
    seal_pending()
    assert list(AuditCheckpoint.objects.values_list("seq", flat=True)) == [1]
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=301), tick=False):
        seal_pending()
    assert list(AuditCheckpoint.objects.values_list("seq", flat=True)) == [1, 2]


def test_a_witness_that_fails_keeps_the_checkpoint_and_is_retried(db, deferred, tmp_path):
    deferred.AUDIT_WITNESS_FILE = str(tmp_path)  # a folder: appending to it fails
    write(2)
    seal_pending()

    checkpoint = AuditCheckpoint.objects.get()
    assert (checkpoint.seq, checkpoint.witness_pending) == (2, "file")
    assert checkpoint.witnessed_at is None
    assert "file:" in checkpoint.witness_error

    deferred.AUDIT_WITNESS_FILE = str(tmp_path / "witness.jsonl")
    seal_pending()  # nothing to seal: the sweeper retries the witness
    checkpoint.refresh_from_db()
    assert (checkpoint.witness_pending, checkpoint.witness_error) == ("", "")
    assert checkpoint.witnessed_at is not None
    assert json.loads((tmp_path / "witness.jsonl").read_text())["seq"] == 2


def test_checkpoints_also_go_to_syslog(db, deferred):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(5)
        deferred.AUDIT_WITNESS_SYSLOG = f"127.0.0.1:{receiver.getsockname()[1]}"
        write(1)
        seal_pending()
        message = receiver.recv(4096).decode()
    assert message.startswith("<110>nwterm-audit: ")
    assert json.loads(message.split(": ", 1)[1])["hash"] == AuditEvent.objects.get().hash


def test_a_former_key_still_verifies_its_checkpoints_and_an_unknown_key_does_not(db, deferred):
    write(2)
    seal_pending()
    former = signing_key()
    former_public = former.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    deferred.AUDIT_SIGNING_KEY = new_key()  # the key was rotated

    checked, broken = verify_chain()
    assert (checked, broken.seq, broken.reason) == (1, 2, "checkpoint signed with an unknown key")

    deferred.AUDIT_VERIFY_KEYS = [base64.b64encode(former_public).decode()]
    assert verify_chain() == (2, None)


def test_a_forged_checkpoint_signature_is_caught(db, deferred):
    write(3)
    seal_pending()
    forged = base64.b64encode(Ed25519PrivateKey.generate().sign(b"anything")).decode()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditcheckpoint SET signature = %s", [forged])
    checked, broken = verify_chain()
    assert (checked, broken.seq, broken.reason) == (2, 3, "checkpoint signature is not valid")


# The attack -----------------------------------------------------------------------------------


def rewrite_history(from_seq: int) -> None:
    """What someone with write access to the database can do: change an event's details and
    recompute its hash and every later one, so the chain's links all hold again."""
    rows = list(
        AuditEvent.objects.filter(seq__gte=from_seq)
        .order_by("seq")
        .values_list(
            "id", "seq", "occurred_at", "actor_username", "action", "object_type", "object_id",
            "details", "prev_hash",
        )
    )  # fmt: skip
    prev = rows[0][-1]
    with connection.cursor() as cursor:
        for event_id, seq, at, actor, action, object_type, object_id, details, _ in rows:
            if seq == from_seq:
                details = {**details, "i": 999}
            digest = event_hash(
                seq=seq, occurred_at=at, actor_username=actor, action=action,
                object_type=object_type, object_id=object_id, details=details, prev_hash=prev,
            )  # fmt: skip
            cursor.execute(
                "UPDATE core_auditevent SET details = %s WHERE id = %s",
                [json.dumps(details), event_id],
            )
            cursor.execute(
                "UPDATE core_auditseal SET prev_hash = %s, hash = %s WHERE event_id = %s",
                [prev, digest, event_id],
            )
            prev = digest


def test_history_rewritten_with_recomputed_hashes_is_caught_by_the_checkpoints(db, deferred):
    deferred.AUDIT_CHECKPOINT_EVENTS = 5
    deferred.AUDIT_SEAL_BATCH = 5
    write(10)
    seal_pending()
    assert verify_chain() == (10, None)

    rewrite_history(from_seq=3)

    checked, broken = verify_chain()
    assert (checked, broken.seq, broken.reason) == (4, 5, "checkpoint does not match the chain")


def test_history_rewritten_and_the_checkpoints_deleted_is_caught_by_the_witness(db, deferred):
    deferred.AUDIT_CHECKPOINT_EVENTS = 5
    deferred.AUDIT_SEAL_BATCH = 5
    write(10)
    seal_pending()

    rewrite_history(from_seq=3)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditcheckpoint")

    checked, broken = verify_chain()
    assert (checked, broken.seq) == (4, 5)
    assert broken.reason == "witnessed checkpoint does not match the chain"
    with pytest.raises(CommandError, match="BROKEN at seq 5: witnessed checkpoint") as exc:
        call_command("verify_audit_chain")
    assert exc.value.returncode == 1


def test_events_removed_from_the_end_are_caught_by_the_last_checkpoint(db, deferred):
    write(4)
    seal_pending()
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM core_auditevent "
            "WHERE id = (SELECT event_id FROM core_auditseal WHERE seq = %s)",
            [4],
        )
    checked, broken = verify_chain(seal=False)
    assert (checked, broken.seq, broken.reason) == (3, 4, "event missing from the sequence")


# The alert ------------------------------------------------------------------------------------


def test_events_left_unsealed_too_long_raise_the_alert(db, deferred, caplog, as_user, auditor):
    write(2)
    assert unsealed_backlog().count == 2 and not unsealed_backlog().alert

    later = timezone.now() + dt.timedelta(seconds=deferred.AUDIT_UNSEALED_ALERT_SECONDS + 5)
    with time_machine.travel(later, tick=False):
        backlog = unsealed_backlog()
        assert (backlog.count, backlog.alert) == (2, True)
        assert backlog.oldest_age_seconds >= deferred.AUDIT_UNSEALED_ALERT_SECONDS
        client = as_user(auditor)
        client.cookies["django_language"] = "en"
        page = client.get("/").content.decode()
    assert "2 audit events are not sealed into the chain yet" in page

    with (
        time_machine.travel(
            later + dt.timedelta(seconds=deferred.AUDIT_SEAL_LEASE_SECONDS), tick=False
        ),
        caplog.at_level(logging.WARNING, logger="core.audit"),
    ):
        assert seal_pending().sealed == 2
    assert "2 audit events are not sealed" in caplog.text
    assert unsealed_backlog().count == 0


def test_the_hash_is_the_one_the_rows_sealed_before_were_given():
    """event_hash builds the canonical JSON by hand for speed: the same bytes as the original
    json.dumps of the payload, for any text a user may type."""
    moment = dt.datetime(2026, 11, 29, 1, 2, 3, 45, tzinfo=dt.UTC)
    fields = {
        "seq": 123456789,
        "occurred_at": moment,
        "actor_username": 'ユーザー"\\',
        "action": "loan.checked_out",
        "object_type": "lending.loan",
        "object_id": "12\u2028\x00",
        "details": {"z": [1, 2.5, None, True], "a": {"b": "災害\n\t"}, "": "\ud7ff"},
        "prev_hash": "ab" * 32,
    }
    assert event_hash(**fields) == event_hash_reference(**fields)
    assert event_hash(**{**fields, "occurred_at": moment.isoformat(timespec="microseconds")}) == (
        event_hash_reference(**fields)
    )
