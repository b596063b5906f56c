"""Counting a service's SQL statements the way issue #10 budgets them: each audit event counts
as one statement (core.audit.record_event is one INSERT; whatever a wrapped module's event
sends beyond that would be the audit trail's cost, not the caller's). A service's own
transaction is BEGIN/COMMIT in production, which nobody counts; inside a test's transaction it
becomes a SAVEPOINT/RELEASE pair, left out here too."""

from contextlib import contextmanager

from django.db import connection
from django.test.utils import CaptureQueriesContext


class Statements:
    def __init__(self):
        self.total = 0
        self.in_events = 0
        self.events = 0

        self.outer_savepoint = 0

    @property
    def count(self) -> int:
        return self.total - self.in_events + self.events - self.outer_savepoint


@contextmanager
def statements(monkeypatch, *modules):
    """Statements sent in the block, each record_event of `modules` counted as one."""
    result = Statements()
    with CaptureQueriesContext(connection) as captured:

        def wrapping(record_event):
            def counted(**kwargs):
                before = len(captured.captured_queries)
                event = record_event(**kwargs)
                result.in_events += len(captured.captured_queries) - before
                result.events += 1
                return event

            return counted

        for module in modules:
            monkeypatch.setattr(module, "record_event", wrapping(module.record_event))
        yield result
    sql = [query["sql"] for query in captured.captured_queries]
    result.total = len(sql)
    if sql and sql[0].startswith("SAVEPOINT") and sql[-1].startswith("RELEASE SAVEPOINT"):
        result.outer_savepoint = 2
