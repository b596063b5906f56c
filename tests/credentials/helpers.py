from credentials.accounts import account_create
from credentials.models import Account


def rotated_account(target, terminal, django_capture_on_commit_callbacks) -> Account:
    """A new account whose first rotation ran (as the worker would run it)."""
    with django_capture_on_commit_callbacks(execute=True):
        account = account_create(actor=None, target_system=target, terminal=terminal)
    account.refresh_from_db()
    return account
