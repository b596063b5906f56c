"""Builders shared by the lending API tests."""

import datetime

from django.utils import timezone

from credentials.accounts import account_create
from lending import services


def with_accounts(terminal, targets, capture):
    """Give a terminal an account on each target; the first rotations run as a worker would."""
    with capture(execute=True):
        for target in targets:
            account_create(actor=None, target_system=target, terminal=terminal)
    return terminal


def submit(contractor, declaration, *, quantity=2, **changes):
    fields = {
        "actor": contractor,
        "declaration": declaration,
        "work_site": "千葉県館山市 配電復旧現場",
        "quantity": quantity,
        "operators": ["山田 太郎", "佐藤 花子"],
        "purpose": "停電復旧作業の顧客対応",
        "needed_until": timezone.now() + datetime.timedelta(days=3),
    }
    fields.update(changes)
    return services.access_request_submit(**fields)


def checkout_body(request, terminal, **changes) -> dict:
    body = {
        "request": request.pk,
        "terminal": terminal.asset_tag,
        "operator_name": "山田 太郎",
        "acknowledged_name": "山田 太郎",
    }
    body.update(changes)
    return body


def checkout(request, terminal, actor):
    """A loan handed out through the service, for tests about what follows it."""
    return services.loan_checkout(
        request=request,
        terminal=terminal,
        actor=actor,
        operator_name="山田 太郎",
        acknowledged_name="山田 太郎",
    )
