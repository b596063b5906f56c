import pytest
from django.db import connection
from django.db.models import ProtectedError

from core.audit import GENESIS_HASH, record_event, seal_pending, verify_chain
from core.models import AuditEvent, AuditSeal


def write_events(n: int, actor=None):
    """Events written and sealed (on PostgreSQL the sealer gives them their place later)."""
    ids = [
        record_event(
            actor=actor,
            action="test.happened",
            object_type="test",
            object_id=str(i),
            details={"i": i, "日本語": "端末"},
        )
        for i in range(n)
    ]
    seal_pending()
    return list(AuditEvent.objects.filter(pk__in=ids).order_by("id"))


def test_events_are_chained_by_hash(db):
    first, second = write_events(2)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert verify_chain() == (2, None)


def test_the_chain_verifies_after_a_round_trip_through_the_database(db, facilities):
    write_events(5, actor=facilities)
    checked, broken = verify_chain(batch_size=2)
    assert (checked, broken) == (5, None)


def behind_the_trails_back(statement: str, seq: int) -> None:
    """A database writer's statement past the ORM: `{table}` is the events' table and
    `{at_seq}` the condition that picks the event at `seq`."""
    at_seq = "id = (SELECT event_id FROM core_auditseal WHERE seq = %s)"
    with connection.cursor() as cursor:
        cursor.execute(statement.format(table=AuditEvent._meta.db_table, at_seq=at_seq), [seq])


def test_a_tampered_row_is_detected_at_its_sequence_number(db):
    events = write_events(4)
    behind_the_trails_back(
        """UPDATE {table} SET details = '{{"i": 99}}' WHERE {at_seq}""", events[2].seq
    )
    checked, broken = verify_chain()
    assert checked == 2
    assert broken.seq == events[2].seq
    assert "hash" in broken.reason


def test_a_deleted_row_is_detected(db):
    events = write_events(3)
    behind_the_trails_back("DELETE FROM {table} WHERE {at_seq}", events[1].seq)
    checked, broken = verify_chain()
    assert (checked, broken.seq) == (1, events[1].seq)


def test_a_break_in_a_later_batch_is_found_and_the_connection_stays_usable(db):
    # Read a batch at a time, the next one already asked for (on PostgreSQL) when the break is
    # found: what was asked is dropped, and the session goes on.
    events = write_events(7)
    behind_the_trails_back("UPDATE {table} SET action = 'forged' WHERE {at_seq}", events[4].seq)
    checked, broken = verify_chain(batch_size=2, seal=False)
    assert (checked, broken.seq, broken.reason) == (4, 5, "content does not match its hash")
    assert AuditEvent.objects.filter(action="forged").count() == 1


def test_a_seal_removed_from_the_middle_is_a_gap_in_the_sequence(db):
    write_events(6)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditseal WHERE seq = 3")
    checked, broken = verify_chain(batch_size=2, seal=False)
    assert (checked, broken.seq, broken.reason) == (2, 3, "event missing from the sequence")


def test_events_cannot_be_changed_or_deleted_through_the_orm(db):
    (event,) = write_events(1)
    event.action = "forged"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(action="forged")
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get().action == "test.happened"
    seal = AuditSeal.objects.get(event=event.pk)
    seal.hash = "0" * 64
    with pytest.raises(PermissionError):
        seal.save()
    with pytest.raises(PermissionError):
        seal.delete()
    with pytest.raises(PermissionError):
        AuditSeal.objects.update(hash="0" * 64)
    with pytest.raises(PermissionError):
        AuditSeal.objects.all().delete()
    assert verify_chain() == (1, None)


def test_several_events_are_appended_in_one_insert_in_the_order_given(
    db, facilities, django_assert_max_num_queries
):
    from core.audit import record_events

    before_id = record_event(actor=None, action="test.before", object_type="test", object_id="0")
    objects = [AuditEvent(pk=i) for i in (11, 12, 13)]  # any saved model names an object
    with django_assert_max_num_queries(1):
        written = record_events(
            actor=facilities,
            events=[("test.bulk", obj, {"n": i}) for i, obj in enumerate(objects)],
        )
    seal_pending()
    rows = list(AuditEvent.objects.filter(action="test.bulk").order_by("seq"))
    assert [row.details["n"] for row in rows] == [0, 1, 2]
    assert [row.object_id for row in rows] == ["11", "12", "13"]
    assert {row.actor_username for row in rows} == {facilities.username}
    assert [w.pk for w in written] == [row.pk for row in rows]
    assert rows[0].prev_hash == AuditEvent.objects.get(pk=before_id).hash
    assert verify_chain()[1] is None


def test_a_user_the_trail_names_cannot_be_deleted(db, facilities):
    # The trail has no foreign key in the database (core.models.AuditEvent.actor): the model's
    # PROTECT is what keeps the user.
    record_event(actor=facilities, action="test.named", object_type="t", object_id="1")
    with pytest.raises(ProtectedError):
        facilities.delete()
    assert AuditEvent.objects.get(action="test.named").actor == facilities
