from credentials.models import Account, AccountState
from credentials.secrets import secret_plaintext


class LocalConnector:
    """The service is the source of truth: there is no remote system to change, and the
    account's state in the database is its lock."""

    def __init__(self, target_system):
        self.target_system = target_system

    def apply_rotation(self, *, old_login_id: str, new_login_id: str, password: str) -> None:
        return None

    def lock(self, login_id: str) -> None:
        return None

    def unlock(self, login_id: str) -> None:
        return None

    def verify(self, login_id: str, password: str) -> bool:
        account = (
            Account.objects.filter(target_system=self.target_system, login_id=login_id)
            .exclude(state=AccountState.DELETED)
            .select_related("current_version")
            .first()
        )
        if account is None or account.current_version is None:
            return False
        if account.state != AccountState.UNLOCKED:
            return False
        return secret_plaintext(account.current_version) == password

    def list_login_ids(self) -> list[str]:
        return list(
            Account.objects.filter(target_system=self.target_system)
            .exclude(state=AccountState.DELETED)
            .values_list("login_id", flat=True)
        )

    def unlocked_login_ids(self) -> list[str]:
        return list(
            Account.objects.filter(
                target_system=self.target_system, state=AccountState.UNLOCKED
            ).values_list("login_id", flat=True)
        )

    def delete(self, login_id: str) -> None:
        return None
