"""Schemathesis against /api/schema/: every operation, with each role's token and anonymous.

Generated requests (bounded and derandomized, so a run is repeatable and takes seconds) must
never answer 5xx, every status must be one the schema documents for the operation, and every
documented answer's body must fit its schema. The requests run in the test's own transaction
through Django's WSGI handler, so the personas and the small inventory are there to find."""

import os

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.services import api_token_issue

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Examples per caller, drawn across all operations (valid and invalid requests): small enough
# for the suite's time budget (anonymous callers mostly meet 401). SCHEMATHESIS_EXAMPLES=5000
# for a longer search by hand.
EXAMPLES_PER_CALLER = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "160"))
EXAMPLES_ANONYMOUS = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "80"))


_RAW_SCHEMA: dict = {}


@pytest.fixture
def schema(client, db):
    """The schema as /api/schema/ serves it (generated once per run), run against Django's WSGI
    handler without closing the database connection at each request's end, as Django's own
    test client does: the requests share the test's transaction. (The test client connects
    that signal again after each of its requests: it is fetched first.)"""
    if not _RAW_SCHEMA:
        _RAW_SCHEMA.update(client.get("/api/schema/", {"format": "json"}).json())
    loaded = schemathesis.openapi.from_dict(_RAW_SCHEMA)
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        loaded.app = WSGIHandler()
        yield loaded
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _failures(schema, headers: dict[str, str], examples: int) -> list[str]:
    operations = [result.ok() for result in schema.get_all_operations()]
    strategy = st.one_of(
        [
            operation.as_strategy(generation_mode=mode, headers=headers)
            for operation in operations
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        ]
    )
    found: dict[str, str] = {}

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case):
        try:
            case.call_and_validate(checks=CHECKS, headers=headers)
        except (Exception, BaseExceptionGroup) as exc:  # every failure listed, not the first
            titles = [
                getattr(e, "title", type(e).__name__) for e in getattr(exc, "exceptions", [exc])
            ]
            key = f"{case.method} {case.path}: {', '.join(titles)}"
            found.setdefault(key, str(exc)[:1500])

    run()
    return [f"{key}\n{message}" for key, message in sorted(found.items())]


CALLERS = ["anonymous", "facilities", "security", "auditor", "contractor"]


@pytest.mark.parametrize("caller", CALLERS)
def test_no_operation_answers_a_server_error_or_off_its_schema(
    caller, schema, request, terminal, card
):
    headers = {"Accept-Language": "en"}
    if caller != "anonymous":
        user = request.getfixturevalue(caller)
        headers["Authorization"] = f"Token {api_token_issue(user=user)}"

    examples = EXAMPLES_ANONYMOUS if caller == "anonymous" else EXAMPLES_PER_CALLER
    failures = _failures(schema, headers, examples)

    assert not failures, "\n\n".join(failures)


def test_every_operation_documents_the_errors_it_can_answer(client, db):
    paths = client.get("/api/schema/", {"format": "json"}).json()["paths"]

    for path, methods in paths.items():
        for method, operation in methods.items():
            expected = {"400", "401", "403", "404", "429", "503"}
            if method != "get":
                expected |= {"409", "410", "413"}
            assert expected <= set(operation["responses"]), f"{method} {path}"
    reveal = paths["/api/v1/loans/{id}/reveal/"]["post"]["responses"]
    assert reveal["410"]["content"]["application/json"]["schema"]["$ref"].endswith("/RuleRefusal")
    report = paths["/api/v1/stocktakes/{id}/report/"]["get"]["responses"]
    assert "text/csv" in report["404"]["content"], "a CSV report's errors come as CSV"
