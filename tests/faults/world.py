"""The world the fault tests lend from, built through the services in the test process (initial
rotations run in process): terminals with one account each on a target system, a declared
disaster, approved requests of the contractor, and API tokens for the counter, security and the
contractor. The live service then sees it through the committed test database."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from core.roles import Role
from core.services import api_token_issue
from credentials.accounts import account_create
from credentials.models import TargetSystem
from lending import services
from terminals.models import Location
from tests.factories import make_terminal, make_user
from tests.lending.api.helpers import submit

OPERATOR = "山田 太郎"  # named in every request, with a current training (tests.factories)


@dataclass
class World:
    tags: list[str]
    requests: list[int]
    declaration: int
    cabinet: str
    counter_token: str
    approver_token: str
    security_token: str
    contractor_token: str


def build_world(
    *,
    target: TargetSystem,
    cabinet: Location,
    counter,
    security,
    contractor,
    terminals: int,
    requests: int,
    prefix: str = "FLT",
) -> World:
    approver = make_user("aki", Role.FACILITIES, cabinet.custodian)
    tags = []
    for n in range(terminals):
        terminal = make_terminal(location=cabinet, asset_tag=f"{prefix}-{n:04d}")
        account_create(actor=None, target_system=target, terminal=terminal)
        tags.append(terminal.asset_tag)
    site = cabinet
    while site.parent is not None:
        site = site.parent
    declaration = services.declaration_declare(actor=security, title="台風13号", sites=[site])
    approved = []
    for _ in range(requests):
        request = submit(contractor, declaration, quantity=settings.LENDING_MAX_QUANTITY)
        approved.append(services.access_request_approve(request=request, actor=approver).pk)
    return World(
        tags=tags,
        requests=approved,
        declaration=declaration.pk,
        cabinet=cabinet.code,
        counter_token=api_token_issue(user=counter),
        approver_token=api_token_issue(user=approver),
        security_token=api_token_issue(user=security),
        contractor_token=api_token_issue(user=contractor),
    )


def request_body(declaration: int, purpose: str) -> dict:
    return {
        "declaration": declaration,
        "work_site": "千葉県館山市 配電復旧現場",
        "quantity": 1,
        "operators": [OPERATOR],
        "purpose": purpose,
        "needed_until": (timezone.now() + timedelta(days=3)).isoformat(),
    }


def checkout_body(request: int, tag: str) -> dict:
    return {
        "request": request,
        "terminal": tag,
        "operator_name": OPERATOR,
        "acknowledged_name": OPERATOR,
    }


def return_body(cabinet: str) -> dict:
    return {
        "condition": "ok",
        "cards_returned": [],
        "return_location": cabinet,
        "handed_back_by": OPERATOR,
        "operator_signature": OPERATOR,
        "data_disposition": "destroyed",
    }
