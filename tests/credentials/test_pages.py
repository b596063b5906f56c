import pytest

from core.models import AuditEvent
from credentials.accounts import account_create
from credentials.models import Account, Rotation
from credentials.rotation import rotation_request
from credentials.secrets import secret_plaintext
from credentials.targets import target_system_create
from tests.credentials.helpers import rotated_account
from tests.factories import make_user
from tests.support.db import nothing_written


@pytest.fixture
def account(local_target, terminal, django_capture_on_commit_callbacks):
    return rotated_account(local_target, terminal, django_capture_on_commit_callbacks)


def page(client, user, url, **kwargs):
    client.force_login(user)
    return client.get(url, HTTP_ACCEPT_LANGUAGE="en", **kwargs)


def test_the_terminal_page_lists_its_accounts_but_never_a_password(
    client, account, terminal, facilities
):
    response = page(client, facilities, f"/terminals/{terminal.asset_tag}/")
    body = response.content.decode()
    assert account.login_id in body
    assert "Locked" in body
    assert secret_plaintext(account.current_version) not in body
    assert "Rotate now" not in body  # facilities do not force rotations


def test_security_rotates_a_terminal_account_from_its_page(
    client, account, terminal, security, django_capture_on_commit_callbacks
):
    assert (
        "Rotate now" in page(client, security, f"/terminals/{terminal.asset_tag}/").content.decode()
    )
    old_login_id = account.login_id
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/credentials/rotations/force/",
            {"account": account.pk, "next": f"/terminals/{terminal.asset_tag}/"},
        )
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.login_id != old_login_id
    assert AuditEvent.objects.filter(action="rotation.succeeded").count() == 2


def test_a_terminal_typed_in_lower_case_or_full_width_is_rotated_and_a_bad_account_is_refused(
    client, account, terminal, security, django_capture_on_commit_callbacks
):
    client.force_login(security)
    typed = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in terminal.asset_tag)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/credentials/rotations/force/", {"terminal": typed.lower()})
    assert Rotation.objects.filter(reason="forced", account=account).count() == 1

    with nothing_written(Rotation):
        for bad in ("abc", "²", "1e3"):
            response = client.post("/credentials/rotations/force/", {"account": bad})
            assert response.status_code == 302


@pytest.mark.parametrize(
    ("role", "code"), [("facilities", 403), ("auditor", 403), ("contractor", 403)]
)
def test_only_security_forces_rotations_from_the_pages(request, client, account, role, code):
    client.force_login(request.getfixturevalue(role))
    with nothing_written(account, Rotation):
        response = client.post("/credentials/rotations/force/", {"account": account.pk})
    assert response.status_code == code
    assert not Rotation.objects.filter(reason="forced").exists()


def test_the_rotation_queue_shows_a_failed_rotation_and_its_error(
    client, account, security, monkeypatch, settings, django_capture_on_commit_callbacks
):
    from credentials.connectors import ConnectorError

    settings.ROTATION_MAX_RETRIES = 0

    def refuse(self, **kwargs):
        raise ConnectorError("ldap://dir: busy")

    monkeypatch.setattr("credentials.connectors.local.LocalConnector.apply_rotation", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        rotation_request(account=account, reason="return", actor=None)
    body = page(client, security, "/credentials/rotations/").content.decode()
    assert "ldap://dir: busy" in body
    assert "Rotate again" in body
    assert (
        "cannot be lent"
        in page(client, security, f"/terminals/{account.terminal.asset_tag}/").content.decode()
    )


def test_a_contractor_sees_no_credential_page(client, contractor, account):
    client.force_login(contractor)
    assert client.get("/credentials/rotations/").status_code == 403
    assert client.get("/credentials/target-systems/").status_code == 403
    assert account.login_id not in client.get("/").content.decode()


def test_the_rotation_queue_needs_a_login(client):
    response = client.get("/credentials/rotations/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_security_adds_an_account_to_a_terminal(
    client, security, local_target, terminal, django_capture_on_commit_callbacks
):
    client.force_login(security)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/credentials/terminals/{terminal.asset_tag}/accounts/new/",
            {"target_system": local_target.pk},
        )
    assert response.status_code == 302
    assert Account.objects.get(terminal=terminal).state == "locked"


def test_the_manual_task_shows_values_to_administrators_only_and_needs_two_people(
    client, terminal, operator, django_capture_on_commit_callbacks
):
    target = target_system_create(
        actor=None, code="takuso", name="託送業務システム", connector="manual"
    )
    setter, verifier = (
        make_user("setter", "security", operator),
        make_user("verifier", "security", operator),
    )
    outsider = make_user("not-admin", "security", operator)
    target.administrators.add(setter, verifier)
    with django_capture_on_commit_callbacks(execute=True):
        account = account_create(actor=None, target_system=target, terminal=terminal)
    rotation = account.rotations.get()
    url = f"/credentials/rotations/{rotation.pk}/manual/"

    client.force_login(outsider)
    with nothing_written(rotation, account, rotation.pending_version):
        assert client.post(url, {"step": "show"}).status_code == 403

    client.force_login(setter)
    shown = client.post(url, {"step": "show"}, HTTP_ACCEPT_LANGUAGE="en")
    assert "no-store" in shown["Cache-Control"]
    rotation.refresh_from_db()
    password = secret_plaintext(rotation.pending_version)
    assert password in shown.content.decode()
    assert password not in client.get(url).content.decode()  # not without asking again
    client.post(url, {"step": "confirm"})
    with nothing_written(rotation, account, rotation.pending_version):
        refused = client.post(url, {"step": "verify"})  # the same person cannot verify
    assert refused.status_code == 200
    account.refresh_from_db()
    assert account.state == "rotation_pending"

    client.force_login(verifier)
    client.post(url, {"step": "verify"})
    account.refresh_from_db()
    assert account.state == "locked"
    assert secret_plaintext(account.current_version) == password
