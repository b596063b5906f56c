import pytest
from django.db import connection

from core.audit import GENESIS_HASH, record_event, verify_chain
from core.models import AuditEvent


def write_events(n: int, actor=None):
    return [
        record_event(
            actor=actor,
            action="test.happened",
            object_type="test",
            object_id=str(i),
            details={"i": i, "日本語": "端末"},
        )
        for i in range(n)
    ]


def test_events_are_chained_by_hash(db):
    first, second = write_events(2)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert verify_chain() == (2, None)


def test_the_chain_verifies_after_a_round_trip_through_the_database(db, facilities):
    write_events(5, actor=facilities)
    checked, broken = verify_chain(batch_size=2)
    assert (checked, broken) == (5, None)


def test_a_tampered_row_is_detected_at_its_sequence_number(db):
    events = write_events(4)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {AuditEvent._meta.db_table} SET details = %s WHERE seq = %s",
            ['{"i": 99}', events[2].seq],
        )
    checked, broken = verify_chain()
    assert checked == 2
    assert broken.seq == events[2].seq
    assert "hash" in broken.reason


def test_a_deleted_row_is_detected(db):
    events = write_events(3)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {AuditEvent._meta.db_table} WHERE seq = %s", [events[1].seq])
    checked, broken = verify_chain()
    assert (checked, broken.seq) == (1, events[1].seq)


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
