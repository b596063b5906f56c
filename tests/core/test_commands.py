import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from core.audit import seal_pending
from core.models import AuditEvent, Organization, User
from core.roles import Role
from terminals.models import AccessCard, Location, Terminal
from tests.support.db import nothing_written


def run(*args, stdin: str | None = None) -> str:
    out = io.StringIO()
    options = {"stdout": out}
    if stdin is not None:
        options["stdin"] = io.StringIO(stdin)
    call_command(*args, **options)
    return out.getvalue()


def test_create_user_takes_the_password_piped_on_stdin(operator):
    output = run(
        "create_user",
        "hana",
        "--role",
        "security",
        "--organization",
        operator.code,
        stdin="violet-lantern-88\n",
    )

    user = User.objects.get(username="hana")
    assert user.check_password("violet-lantern-88")
    assert user.role == Role.SECURITY
    assert user.organization == operator
    assert "violet-lantern-88" not in output


def test_create_user_prints_a_generated_password_once_when_none_is_piped(db):
    output = run("create_user", "kenji", "--role", "auditor", "--email", "k@example.jp", stdin="")

    password = output.split("Password (shown once):")[1].strip()
    user = User.objects.get(username="kenji")
    assert len(password) >= 20
    assert user.check_password(password)
    assert user.email == "k@example.jp"


def test_create_user_records_an_audit_event_without_the_password(db):
    run("create_user", "mika", "--role", "facilities", stdin="violet-lantern-88")

    event = AuditEvent.objects.get(action="user.created")
    assert event.details["username"] == "mika"
    assert event.details["role"] == "facilities"
    assert "violet-lantern-88" not in str(event.details)


def test_create_user_refuses_an_unknown_role(db):
    with nothing_written(), pytest.raises(CommandError, match="invalid choice: 'boss'"):
        run("create_user", "taro", "--role", "boss", stdin="violet-lantern-88")


def test_create_user_refuses_an_unknown_organization(db):
    with nothing_written(), pytest.raises(CommandError, match="Unknown organization 'nowhere'"):
        run("create_user", "taro", "--role", "auditor", "--organization", "nowhere", stdin="")


def test_create_user_refuses_an_existing_username(auditor):
    with nothing_written(auditor), pytest.raises(CommandError, match="already exists"):
        run("create_user", auditor.username, "--role", "auditor", stdin="violet-lantern-88")


def test_create_user_refuses_a_password_the_validators_reject(db):
    with nothing_written(), pytest.raises(CommandError, match="password"):
        run("create_user", "taro", "--role", "auditor", stdin="short")


def test_verify_audit_chain_reports_every_event_on_an_intact_chain(operator, cabinet):
    count = AuditEvent.objects.count()
    assert count > 1

    assert run("verify_audit_chain").strip() == f"OK: {count} events verified"


def test_verify_audit_chain_names_the_seq_of_a_row_changed_behind_its_back(operator, cabinet):
    seal_pending()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE core_auditevent SET object_id = %s "
            "WHERE id = (SELECT event_id FROM core_auditseal WHERE seq = %s)",
            ["999", 3],
        )

    with pytest.raises(CommandError, match="BROKEN at seq 3: content does not match") as exc:
        run("verify_audit_chain")
    assert exc.value.returncode == 1


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Organization, User, Location, Terminal, AccessCard, AuditEvent)
    }


def test_seed_demo_creates_a_demo_world_and_a_second_run_changes_nothing(db):
    first_output = run("seed_demo")
    first = counts()
    second_output = run("seed_demo")

    assert counts() == first
    assert first["Terminal"] == 30
    assert first["AccessCard"] == 20
    assert "nothing changed" in second_output
    for username, password in [
        ("facilities", "green-cabinet-41"),
        ("contractor", "orange-helmet-26"),
    ]:
        assert password in first_output
        assert User.objects.get(username=username).check_password(password)
    assert {u.role for u in User.objects.all()} == set(Role.values)
    assert Terminal.objects.filter(status=Terminal.Status.LOST).count() == 1
    assert Terminal.objects.filter(status=Terminal.Status.MAINTENANCE).count() == 3
    assert [t.asset_tag for t in Terminal.objects.all() if t.storage_warnings()] == ["NW-0030"]
    assert run("verify_audit_chain").startswith(f"OK: {first['AuditEvent']} events")
