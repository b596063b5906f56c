from contextlib import nullcontext

import pytest
from rest_framework.test import APIClient

from core.models import AuditEvent
from credentials.models import Account, Rotation, TargetSystem
from credentials.permissions import register_reveal_policy, unregister_reveal_policy
from credentials.rotation import rotation_request
from credentials.secrets import secret_plaintext
from tests.credentials.helpers import rotated_account
from tests.support.db import nothing_written


@pytest.fixture
def client_for():
    def sign_in(user) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def account(local_target, terminal, django_capture_on_commit_callbacks):
    return rotated_account(local_target, terminal, django_capture_on_commit_callbacks)


ROLES = ["anonymous", "facilities", "security", "auditor", "contractor"]
READ = {"anonymous": 401, "facilities": 200, "security": 200, "auditor": 200, "contractor": 403}


def persona(request, role):
    return None if role == "anonymous" else request.getfixturevalue(role)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "path", ["/api/v1/target-systems/", "/api/v1/accounts/", "/api/v1/rotations/"]
)
def test_who_reads_credentials(request, client_for, account, role, path):
    response = client_for(persona(request, role)).get(path)
    assert response.status_code == READ[role]


WRITE_ROTATE = {
    "anonymous": 401,
    "facilities": 403,
    "security": 202,
    "auditor": 403,
    "contractor": 403,
}


@pytest.mark.parametrize("role", ROLES)
def test_only_security_forces_a_rotation(
    request, client_for, account, role, django_capture_on_commit_callbacks
):
    client = client_for(persona(request, role))
    events = AuditEvent.objects.count()
    refused = WRITE_ROTATE[role] != 202
    with (
        django_capture_on_commit_callbacks(execute=True),
        nothing_written(account, Rotation) if refused else nullcontext(),
    ):
        response = client.post(f"/api/v1/accounts/{account.pk}/rotate/")
    assert response.status_code == WRITE_ROTATE[role]
    if response.status_code == 202:
        assert Rotation.objects.filter(
            account=account, reason="forced", status="succeeded"
        ).exists()
        assert AuditEvent.objects.count() > events
    else:
        assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("role", ROLES)
def test_only_security_creates_target_systems_and_accounts(request, client_for, terminal, role):
    client = client_for(persona(request, role))
    expected = {"anonymous": 401, "security": 201}.get(role, 403)
    with nothing_written(TargetSystem, Account) if expected != 201 else nullcontext():
        response = client.post(
            "/api/v1/target-systems/",
            {"code": "nol", "name": "ネットワークオンラインシステム", "connector": "local"},
        )
    assert response.status_code == expected
    if expected == 201:
        response = client.post(
            "/api/v1/accounts/", {"target_system": "nol", "terminal": terminal.asset_tag}
        )
        assert response.status_code == 201
        assert response.json()["state"] == "rotation_pending"


def test_no_answer_ever_carries_a_password(client_for, account, auditor, security):
    password = secret_plaintext(account.current_version)
    for user in (auditor, security):
        client = client_for(user)
        for path in (
            "/api/v1/accounts/",
            f"/api/v1/accounts/{account.pk}/",
            "/api/v1/rotations/?status=succeeded",
        ):
            body = client.get(path).content.decode()
            assert password not in body
            assert "password" not in client.get(path).json().__repr__().replace(
                "has_bind_password", ""
            )


def test_an_ldap_bind_password_is_stored_encrypted_and_never_answered(client_for, security):
    response = client_for(security).post(
        "/api/v1/target-systems/",
        {
            "code": "dir",
            "name": "Directory",
            "connector": "ldap",
            "ldap_url": "ldap://127.0.0.1:1",
            "ldap_base_dn": "ou=people,dc=x",
            "ldap_bind_dn": "cn=admin,dc=x",
            "ldap_bind_password": "bind-Secret-123",
        },
    )
    assert response.status_code == 201
    assert "bind-Secret-123" not in response.content.decode()
    assert response.json()["has_bind_password"] is True
    target = TargetSystem.objects.get(code="dir")
    assert b"bind-Secret-123" not in bytes(target.ldap_bind_password_ciphertext)
    assert "bind-Secret-123" not in str(
        AuditEvent.objects.filter(action="target_system.created").get().details
    )


def test_an_ldap_target_without_its_settings_is_a_field_error(client_for, security):
    with nothing_written(TargetSystem):
        response = client_for(security).post(
            "/api/v1/target-systems/", {"code": "dir", "name": "D", "connector": "ldap"}
        )
    assert response.status_code == 400
    assert "ldap_url" in response.json()


def test_a_policy_that_cannot_be_met_is_a_field_error(client_for, security):
    with nothing_written(TargetSystem):
        response = client_for(security).post(
            "/api/v1/target-systems/",
            {
                "code": "x",
                "name": "X",
                "connector": "local",
                "password_length": 8,
                "min_upper": 3,
                "min_lower": 3,
                "min_digits": 3,
            },
        )
    assert response.status_code == 400
    assert "password_length" in response.json()


@pytest.fixture
def contractor_may_reveal(contractor):
    def policy(user, account):
        return user.pk == contractor.pk

    register_reveal_policy(policy)
    yield
    unregister_reveal_policy(policy)


def test_reveal_is_refused_without_a_policy(client_for, account, security):
    with nothing_written(account, account.current_version):
        response = client_for(security).post(f"/api/v1/accounts/{account.pk}/reveal/")
    assert response.status_code == 404  # as for an account that does not exist


@pytest.mark.usefixtures("contractor_may_reveal")
def test_reveal_answers_once_uncached_then_410(client_for, account, contractor):
    client = client_for(contractor)
    first = client.post(f"/api/v1/accounts/{account.pk}/reveal/")
    assert first.status_code == 200
    assert first["Cache-Control"] == "no-store"
    assert first.json() == {
        "login_id": account.login_id,
        "password": secret_plaintext(account.current_version),
    }
    with nothing_written(account, account.current_version):
        second = client.post(f"/api/v1/accounts/{account.pk}/reveal/", HTTP_ACCEPT_LANGUAGE="en")
    assert second.status_code == 410
    assert "security officer" in second.json()["detail"]


@pytest.mark.usefixtures("contractor_may_reveal")
def test_security_approves_one_more_reveal_with_a_reason(client_for, account, contractor, security):
    client_for(contractor).post(f"/api/v1/accounts/{account.pk}/reveal/")
    with nothing_written(account, account.current_version):
        no_reason = client_for(security).post(f"/api/v1/accounts/{account.pk}/approve-reveal/", {})
    assert no_reason.status_code == 400
    approved = client_for(security).post(
        f"/api/v1/accounts/{account.pk}/approve-reveal/", {"reason": "紙を紛失"}
    )
    assert approved.status_code == 200
    assert client_for(contractor).post(f"/api/v1/accounts/{account.pk}/reveal/").status_code == 200


def test_security_forces_every_account_of_a_terminal_or_a_target(
    client_for, account, security, local_target, terminal, django_capture_on_commit_callbacks
):
    client = client_for(security)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/rotations/", {"terminal": terminal.asset_tag})
    assert response.status_code == 202
    assert [r["terminal"] for r in response.json()] == [terminal.asset_tag]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/target-systems/{local_target.code}/rotate/")
    assert response.status_code == 202
    assert Rotation.objects.filter(account=account, reason="forced").count() == 2
    with nothing_written(account, Rotation):
        assert client.post("/api/v1/rotations/", {}).status_code == 400


def test_the_rotation_queue_shows_failed_rotations_with_their_reason(
    client_for, account, security, monkeypatch, settings, django_capture_on_commit_callbacks
):
    from credentials.connectors import ConnectorError

    settings.ROTATION_MAX_RETRIES = 0

    def refuse(self, **kwargs):
        raise ConnectorError("ldap://dir: unwillingToPerform")

    monkeypatch.setattr("credentials.connectors.local.LocalConnector.apply_rotation", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        rotation_request(account=account, reason="return", actor=None)
    (row,) = client_for(security).get("/api/v1/rotations/").json()["results"]
    assert row["status"] == "failed"
    assert "unwillingToPerform" in row["last_error"]
    assert Account.objects.get(pk=account.pk).state == "rotation_failed"
