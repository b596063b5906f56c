"""One authorization model (issue #8): matrix.toml lists every page URL and API route with the
status each role, and an anonymous visitor, must get. One test walks the URLconf and fails on a
route missing from the file (or listed there but gone); the others call every route as every
role and compare.

Routes are keyed by their path pattern, never by URL name or view module: both may move between
apps while the paths stay. The spelling is the URLconf's own, joined from the pattern strings:
`path()` routes as written (`terminals/<str:asset_tag>/move/`), DRF router regexes with their
anchors dropped and each named group written `{name}` (`api/v1/terminals/{asset_tag}/move/`)."""

import datetime
import functools
import importlib
import io
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test import Client, TestCase, override_settings
from django.urls import URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import ApiToken, AuditEvent, Organization
from core.roles import Role
from core.services import api_token_issue
from credentials.accounts import account_create
from credentials.targets import target_system_create
from lending import arrangements, supervision
from lending import services as lending
from tests.factories import OrganizationFactory, make_card, make_location, make_terminal, make_user

MATRIX_FILE = Path(__file__).with_name("matrix.toml")
MATRIX = tomllib.loads(MATRIX_FILE.read_text(encoding="utf-8"))
ROLES = ["anonymous", "facilities", "security", "auditor", "contractor"]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
LOGIN_PATH = "/login/"

# A 1x1 PNG: evidence must be a photo or a PDF.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


def _first_module(*names: str):
    """Stock-takes and discrepancies are moving from terminals/ to compliance/: use whichever
    module holds them now."""
    for name in names:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    raise ModuleNotFoundError(f"none of {names}")


# The URLconf ----------------------------------------------------------------------------------

_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")
_PARAM = re.compile(r"<(?:\w+:)?(\w+)>|\{(\w+)\}")


def _walk(patterns, prefix: str = ""):
    for entry in patterns:
        raw = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, raw)
        else:
            yield raw, entry


def canonical(raw: str) -> str:
    """`api/v1/^terminals/(?P<asset_tag>[^/]+)/move/$` -> `api/v1/terminals/{asset_tag}/move/`;
    `path()` routes stay as written."""
    return _GROUP.sub(r"{\1}", raw).replace("^", "").replace("$", "")


def _exclusion(raw: str) -> dict | None:
    for rule in MATRIX["exclude"]:
        if ("prefix" in rule and raw.startswith(rule["prefix"])) or (
            "contains" in rule and rule["contains"] in raw
        ):
            return rule
    return None


def url_routes() -> dict[str, set[str]]:
    """Every route we own, canonical spelling -> the HTTP methods a DRF view maps (empty for
    plain Django views, which do not say)."""
    routes: dict[str, set[str]] = {}
    for raw, entry in _walk(get_resolver().url_patterns):
        if _exclusion(raw) is None:
            actions = getattr(entry.callback, "actions", None) or {}
            methods = {m.upper() for m in actions if m not in ("head", "options")}
            routes.setdefault(canonical(raw), set()).update(methods)
    return routes


def matrix_routes() -> dict[str, tuple[str, dict]]:
    """Route -> (kind, {method: {role: status}}) from both tables of the file."""
    routes = {}
    for kind in ("pages", "api"):
        for route, methods in MATRIX[kind].items():
            routes[route] = (kind, methods)
    return routes


def test_the_matrix_lists_every_route_of_the_urlconf_and_nothing_else():
    walked, listed = url_routes(), matrix_routes()
    problems = [f"missing from matrix.toml: {route}" for route in sorted(set(walked) - set(listed))]
    problems += [
        f"in matrix.toml but not in the URLconf: {route}"
        for route in sorted(set(listed) - set(walked))
    ]
    for route, (kind, methods) in sorted(listed.items()):
        if (kind == "api") != route.startswith("api/"):
            problems.append(f"{route}: listed under [{kind}]")
        if not methods:
            problems.append(f"{route}: no method listed")
        for method, expected in methods.items():
            if method not in METHODS:
                problems.append(f"{route}: unknown method {method}")
            if sorted(expected) != sorted(ROLES):
                problems.append(f"{route} {method}: give exactly the roles {ROLES}")
        if route in walked and walked[route] - set(methods):
            untested = ", ".join(sorted(walked[route] - set(methods)))
            problems.append(f"{route}: the view also answers {untested}, not in the matrix")
    assert not problems, "\n".join(problems)


def test_every_exclusion_still_matches_a_route():
    raws = [raw for raw, _entry in _walk(get_resolver().url_patterns)]
    for rule in MATRIX["exclude"]:
        assert rule.get("reason"), rule
        assert any(_exclusion(raw) is rule for raw in raws), f"stale exclusion: {rule}"


# The world: one of everything a route's path can name ------------------------------------------


@dataclass
class World:
    users: dict[str, object] = field(default_factory=dict)
    # (collection segment before the parameter, parameter name) -> value; ("", name) for a
    # parameter whose name says it all.
    values: dict[tuple[str, str], str] = field(default_factory=dict)

    def value(self, route: str, name: str) -> str:
        segments = route.split("/")
        for index, segment in enumerate(segments):
            match = _PARAM.fullmatch(segment)
            if match and name in match.groups():
                before = segments[index - 1] if index else ""
                for key in ((before, name), ("", name)):
                    if key in self.values:
                        return self.values[key]
        raise LookupError(f"{route}: no object for <{name}>; add one to the world fixture")

    def url(self, route: str) -> str:
        return "/" + _PARAM.sub(lambda m: self.value(route, m.group(1) or m.group(2)), route)


def _in_days(days: int) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(days=days)


def _build_world() -> World:
    stocktakes = _first_module("compliance.services", "terminals.stocktakes")
    capture = TestCase.captureOnCommitCallbacks

    operator = OrganizationFactory(
        code="tepco-pg", name="送配電株式会社", kind=Organization.Kind.NETWORK_OPERATOR
    )
    contractor_org = OrganizationFactory(
        code="kanto-denko", name="関東電工", kind=Organization.Kind.CONTRACTOR
    )
    users = {
        "facilities": make_user("fiona", Role.FACILITIES, operator),
        "security": make_user("sam", Role.SECURITY, operator),
        "auditor": make_user("audrey", Role.AUDITOR, operator),
        "contractor": make_user("carl", Role.CONTRACTOR, contractor_org),
    }
    approver = make_user("aki", Role.FACILITIES, operator)
    facilities, security = users["facilities"], users["security"]

    site = make_location(code="hq", name="本店", custodian=operator)
    building = make_location(kind="building", parent=site, code="hq-b1", name="本館")
    floor = make_location(kind="floor", parent=building, code="hq-b1-3f", name="3F")
    room = make_location(kind="room", parent=floor, code="hq-b1-3f-sec", name="端末保管室")
    cabinet = make_location(kind="cabinet", parent=room, code="hq-cab-1", name="保管庫1")

    # NW-00001 is lent with its card; the inventory routes act on NW-00002 and its card, both
    # in storage, so that a permitted change answers for the permission, not for a loan.
    lent, stored, manual = (
        make_terminal(location=cabinet, asset_tag=tag)
        for tag in ("NW-00001", "NW-00002", "NW-00003")
    )
    make_card(location=cabinet, terminal=lent, card_number="IC-000001")
    card = make_card(location=cabinet, terminal=stored, card_number="IC-000002")
    target = target_system_create(
        actor=None, code="callcenter", name="コールセンターシステム", connector="local"
    )
    # A `manual` target: its first rotation waits for an administrator (none of our users).
    manual_target = target_system_create(
        actor=None, code="handset", name="手動システム", connector="manual"
    )
    with capture(execute=True):
        account = account_create(actor=None, target_system=target, terminal=lent)
        account_create(actor=None, target_system=target, terminal=stored)
        manual_account = account_create(actor=None, target_system=manual_target, terminal=manual)

    declaration = lending.declaration_declare(actor=security, title="台風10号", sites=[site])
    with capture(execute=True):
        approved = lending.access_request_submit(
            actor=users["contractor"],
            declaration=declaration,
            work_site="千葉県館山市 配電復旧現場",
            quantity=1,
            operators=["山田 太郎"],
            purpose="停電復旧作業の顧客対応",
            needed_until=_in_days(3),
        )
        approved = lending.access_request_approve(request=approved, actor=approver)
    loan = lending.loan_checkout(
        request=approved,
        terminal=lent,
        actor=facilities,
        operator_name="山田 太郎",
        acknowledged_name="山田 太郎",
    )
    # A request still to decide: approve, reject and cancel act on it.
    submitted = lending.access_request_submit(
        actor=users["contractor"],
        declaration=declaration,
        work_site="館山市",
        quantity=1,
        operators=["鈴木 一郎"],
        purpose="復旧作業",
        needed_until=_in_days(2),
    )

    # An open (blind) count of hq with one scan by facilities, for scan, undo and close; a
    # closed count of another site whose missing terminal is the discrepancy, with evidence.
    open_count = stocktakes.stocktake_open(site=site, actor=security, reason="manual")
    stocktakes.scan_record(stocktake=open_count, location=cabinet, tag="NW-00002", actor=facilities)
    north = make_location(code="north", name="北支店", custodian=operator)
    north_cabinet = make_location(kind="cabinet", parent=north, code="north-cab", name="保管庫")
    make_terminal(location=north_cabinet, asset_tag="NW-N0001")
    closed_count = stocktakes.stocktake_open(site=north, actor=security, reason="manual")
    closed_count = stocktakes.stocktake_close(stocktake=closed_count, actor=security)
    discrepancy = closed_count.discrepancies.order_by("pk").first()
    evidence = stocktakes.discrepancy_add_evidence(
        discrepancy=discrepancy,
        actor=security,
        file=SimpleUploadedFile("photo.png", PNG, content_type="image/png"),
    )

    # An internal audit report of yesterday, produced as its worker would.
    from compliance.audit_report import audit_report_produce, audit_report_request

    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    audit_report = audit_report_request(
        actor=security, period_start=yesterday, period_end=yesterday
    )
    audit_report_produce(report_id=audit_report.pk)

    # A time-boxed arrangement over NW-00002 that a second officer approved, and an extension
    # sam asked for: sam decides neither (separation of duties), so his decisions are refused.
    arrangement = arrangements.arrangement_propose(
        actor=make_user("shin", Role.SECURITY, operator),
        title="小売向け暫定運用（移行期間）",
        reason="移行まで",
        parties=[contractor_org],
        terminals=[stored],
        starts_at=_in_days(-1),
        ends_at=_in_days(30),
    )
    arrangement = arrangements.arrangement_approve(arrangement=arrangement, actor=security)
    extension = arrangements.arrangement_extension_propose(
        arrangement=arrangement,
        actor=security,
        new_ends_at=_in_days(60),
        reason="移行の遅延による延長",
    )

    # An access log read for the callcenter target: one ingestion and its one sign-in.
    from compliance.access_logs.ingestion import (
        access_log_ingestion_create,
        access_log_ingestion_run,
    )
    from compliance.models import SignInEvent

    ingestion = access_log_ingestion_create(
        actor=security,
        target_system=target,
        format="csv",
        file=io.BytesIO(b"time,login_id,result,host,address\n2026-11-20T10:00:00,nwx,ok,,\n"),
        source="upload",
        send=False,
    )
    access_log_ingestion_run(ingestion.pk)

    # Contractor supervision (issue #12): a report awaiting review, with its file; an audit to
    # follow up; a training waiting for its undertaking; an exception during the declaration.
    today = timezone.localdate()
    report = supervision.contractor_report_submit(
        actor=users["contractor"],
        contractor=contractor_org,
        period_start=today,
        period_end=today + datetime.timedelta(days=365),
        answers={code: "yes" for code, _question in supervision.CHECKLIST},
        file=SimpleUploadedFile("report.pdf", b"%PDF-1.4\n", content_type="application/pdf"),
    )
    audit = supervision.contractor_audit_record(
        actor=security,
        contractor=contractor_org,
        audited_on=today,
        finding="誓約書の保管が不十分",
        follow_up="保管庫の施錠",
    )
    training = supervision.operator_training_record(
        actor=security,
        contractor=contractor_org,
        operator_name="高橋 次郎",
        course="情報セキュリティ研修",
        completed_on=today,
        expires_on=today + datetime.timedelta(days=365),
    )
    exception = supervision.supervision_exception_grant(
        actor=security,
        declaration=declaration,
        contractor=contractor_org,
        operator_name="高橋 次郎",
        reason="誓約書は本日中に提出",
        hours=24,
    )

    # An API token of the contractor: its owner and security see and revoke it.
    api_token_issue(user=users["contractor"], name="scanner")
    values = {
        ("tokens", "pk"): str(ApiToken.objects.get(name="scanner").pk),
        ("supervision", "code"): contractor_org.code,
        ("reports", "pk"): str(report.pk),
        ("contractor-reports", "pk"): str(report.pk),
        ("audits", "pk"): str(audit.pk),
        ("trainings", "pk"): str(training.pk),
        ("operator-trainings", "pk"): str(training.pk),
        ("supervision-exceptions", "pk"): str(exception.pk),
        ("access-logs", "pk"): str(ingestion.pk),
        ("sign-ins", "pk"): str(SignInEvent.objects.get().pk),
        ("mappings", "code"): target.code,
        ("arrangements", "pk"): str(arrangement.pk),
        ("", "extension_pk"): str(extension.pk),
        ("audit-reports", "pk"): str(audit_report.pk),
        ("csv", "section"): "loans",
        ("", "asset_tag"): stored.asset_tag,
        ("", "card_number"): card.card_number,
        ("", "evidence_id"): str(evidence.pk),
        ("evidence", "pk"): str(evidence.pk),
        ("stocktakes", "pk"): str(open_count.pk),
        ("discrepancies", "pk"): str(discrepancy.pk),
        ("rotations", "pk"): str(manual_account.rotations.get().pk),
        ("accounts", "pk"): str(account.pk),
        ("events", "pk"): str(AuditEvent.objects.order_by("pk").first().pk),
        ("declarations", "pk"): str(declaration.pk),
        ("requests", "pk"): str(submitted.pk),
        ("access-requests", "pk"): str(submitted.pk),
        ("loans", "pk"): str(loan.pk),
        ("organizations", "code"): contractor_org.code,
        ("contractors", "code"): contractor_org.code,
        ("locations", "code"): cabinet.code,
        ("target-systems", "code"): target.code,
    }
    return World(users=users, values=values)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """Built once for the module, in a transaction rolled back at its end; each test runs in a
    savepoint inside it (pytest-django's `db`), so what one test writes the next never sees."""
    changed = override_settings(
        MEDIA_ROOT=tmp_path_factory.mktemp("media"),  # the evidence file
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    )
    with django_db_blocker.unblock(), changed, transaction.atomic():
        yield _build_world()
        transaction.set_rollback(True)


# Every route as every role --------------------------------------------------------------------


@functools.cache
def _counting_query() -> tuple[list[str], str]:
    """One query counting the rows of every table of our apps (the audit trail included)."""
    base = Path(settings.BASE_DIR).resolve()
    models = [
        model
        for config in apps.get_app_configs()
        if Path(config.path).resolve().is_relative_to(base) and ".venv" not in config.path
        for model in config.get_models()
    ]
    counts = ", ".join(
        f"(SELECT COUNT(*) FROM {connection.ops.quote_name(model._meta.db_table)})"
        for model in models
    )
    return [model._meta.label for model in models], f"SELECT {counts}"


def _rows() -> dict[str, int]:
    labels, sql = _counting_query()
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return dict(zip(labels, cursor.fetchone(), strict=True))


CASES = [
    pytest.param(route, method, role, expected[role], id=f"{method} /{route} {role}")
    for route, (_kind, methods) in matrix_routes().items()
    for method, expected in methods.items()
    for role in ROLES
]


@pytest.mark.parametrize(("route", "method", "role", "expected"), CASES)
def test_each_role_gets_the_expected_status(db, world, route, method, role, expected):
    is_api = route.startswith("api/")
    client = APIClient() if is_api else Client()
    if role != "anonymous":
        client.force_login(world.users[role])
    cache.clear()  # throttles count per address in the cache
    url = world.url(route)
    before = _rows()

    call = getattr(client, method.lower())
    response = call(url, {}, format="json") if is_api and method != "GET" else call(url)

    assert response.status_code == expected, (
        f"{method} {url} as {role}: {response.status_code}, expected {expected}"
    )
    if response.status_code == 302 and role == "anonymous" and not is_api:
        assert urlsplit(response["Location"]).path == LOGIN_PATH, response["Location"]
    if method == "GET" or 400 <= response.status_code < 500:
        # A read, or a refusal, writes nothing: no audit event, no row in any of our tables.
        after = _rows()
        written = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
        assert not written, f"{method} {url} as {role} wrote (rows before, after): {written}"


@pytest.mark.parametrize("role", ROLES)
def test_the_admin_site_sends_non_staff_to_its_own_login(db, world, role):
    """The admin site is Django's, left out of the matrix; none of the roles is staff."""
    client = Client()
    if role != "anonymous":
        client.force_login(world.users[role])
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/admin/")
