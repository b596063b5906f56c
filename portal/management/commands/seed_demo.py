"""Demo data written through the services, so it carries the same audit trail as real work.

Every object is looked up by its natural key first and created only when missing: a second run
changes nothing, and a run that stopped half way finishes the rest.
"""

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from compliance.access_logs.ingestion import access_log_mapping_update
from compliance.models import AccessLogMapping
from core.audit import chain_check
from core.models import Organization, User
from core.otp import demo_authenticator_enrol
from core.roles import Role
from core.services import organization_create, user_create
from credentials.accounts import account_create
from credentials.models import Account, TargetSystem
from credentials.targets import target_system_create
from lending import arrangements, supervision
from lending.models import Arrangement, ContractorReport, OperatorTraining
from terminals import services as inventory
from terminals.models import AccessCard, Location, Terminal

Kind = Organization.Kind

OPERATOR = ("mirai-pg", "みらい送配電株式会社", Kind.NETWORK_OPERATOR)
ORGANIZATIONS = [
    OPERATOR,
    ("mirai-energy", "みらい電力エナジー株式会社", Kind.RETAIL),
    ("kanto-densetsu", "関東電設工業株式会社", Kind.CONTRACTOR),
    ("hokushin-tech", "北辰テクノサービス株式会社", Kind.CONTRACTOR),
]

# code, name, kind, parent code, secured
LOCATIONS = [
    ("honten", "本店", Location.Kind.SITE, None, True),
    ("honten-main", "本館", Location.Kind.BUILDING, "honten", True),
    ("honten-main-3f", "3階", Location.Kind.FLOOR, "honten-main", True),
    ("honten-main-3f-storage", "端末保管室", Location.Kind.ROOM, "honten-main-3f", True),
    ("honten-cab-a", "保管庫A", Location.Kind.CABINET, "honten-main-3f-storage", True),
    ("honten-cab-b", "保管庫B", Location.Kind.CABINET, "honten-main-3f-storage", True),
    ("honten-main-1f", "1階", Location.Kind.FLOOR, "honten-main", True),
    # Not locked: the one terminal left here shows up as a storage warning on the dashboard.
    ("honten-main-1f-meeting", "共用会議室", Location.Kind.ROOM, "honten-main-1f", False),
]
SITE_ADDRESS = "東京都千代田区内幸町1-1-3"

TERMINAL_COUNT = 30
MODELS = ["ThinkPad L14 Gen 4", "dynabook B65/HV", "Let's note SV1"]
UNSECURED_TAG = "NW-0030"
MAINTENANCE_TAGS = {
    "NW-0027": "バッテリー膨張のため点検",
    "NW-0028": "OS更新",
    "NW-0029": "キーボード交換",
}
LOST_TAG = "NW-0026"
ENTRY_CARDS = 10
SIGN_IN_CARDS = 10

# code, name: the target systems every stored terminal has an account on (local connector: the
# demo needs no directory server). The worker gives each account its first random login ID and
# password as soon as it starts.
TARGET_SYSTEMS = [
    ("callcenter", "コールセンターシステム"),
    ("nol", "ネットワークオンラインシステム"),
]

# The demo contractor's operators: name, days since their training, days until it expires, and
# whether they signed the undertaking. The first three may receive terminals.
SUPERVISION_TRAININGS = [
    ("山田 太郎", 30, 335, True),
    ("佐藤 花子", 30, 335, True),
    ("鈴木 一郎", 30, 335, True),
    ("高橋 次郎", 340, 25, True),  # expiring: the reminder lists it
    ("田中 三郎", 5, 360, False),  # no undertaking yet: refused until it is signed
]

# How the call-centre system's exported sign-in log reads (compliance access logs): the sample
# log portal/demo/callcenter-access-log.csv is written this way.
ACCESS_LOG_TARGET = "callcenter"
ACCESS_LOG_MAPPING = {
    "time_column": "日時",
    "login_id_column": "ユーザーID",
    "result_column": "結果",
    "source_host_column": "端末名",
    "source_address_column": "IPアドレス",
    "time_format": "%Y/%m/%d %H:%M:%S",
    "time_zone": "Asia/Tokyo",
    "success_values": "成功",
    "failure_values": "失敗",
}

# A time-boxed arrangement proposed by `security`, awaiting a second officer's approval.
ARRANGEMENT_TITLE = "配電自動化システム更新工事の暫定運用"
ARRANGEMENT_REASON = "更新工事の期間中、関東電設工業が切替作業のため設定端末を使用する。"
ARRANGEMENT_TAGS = ["NW-0024", "NW-0025"]
ARRANGEMENT_DAYS = 21

# username, password, role, organization code. Fixed on purpose: this is demo data, and the
# command prints them.
USERS = [
    ("facilities", "green-cabinet-41", Role.FACILITIES, "mirai-pg"),
    # A second facilities user: whoever approves a request may not hand out its terminals
    # (LENDING_SEPARATION_OF_DUTIES), so the demo needs one to approve and one at the counter.
    ("approver", "amber-stamp-19", Role.FACILITIES, "mirai-pg"),
    ("security", "silver-badge-73", Role.SECURITY, "mirai-pg"),
    # A second security officer: an arrangement one officer proposes, another approves.
    ("security2", "violet-seal-62", Role.SECURITY, "mirai-pg"),
    ("auditor", "quiet-ledger-58", Role.AUDITOR, "mirai-pg"),
    ("contractor", "orange-helmet-26", Role.CONTRACTOR, "kanto-densetsu"),
]

# The demo security officers' and facilities staff's authenticator secrets (base32, TOTP, 30 s,
# 6 digits): published on purpose, like the passwords. Add one to an authenticator app, or
# print the current code with `manage.py totp_code <username>`.
DEMO_TOTP_SECRETS = {
    "facilities": "FACILITIESDEMOTOTPSECRET234567AB",
    "approver": "APPROVERDEMOTOTPSECRET234567ABCD",
    "security": "SECURITYDEMOTOTPSECRET234567ABCD",
    "security2": "SECURITYTWODEMOTOTPSECRET234567A",
}


class Command(BaseCommand):
    help = "Create demo organizations, locations, terminals, access cards and one user per role."

    def handle(self, *args, **options):
        self.created = 0
        with transaction.atomic():
            organizations = {
                code: self._organization(code, name, kind) for code, name, kind in ORGANIZATIONS
            }
            new_users = {
                username: self._user(username, password, role, organizations[org])
                for username, password, role, org in USERS
            }
            self._authenticators()
            actor = User.objects.get(username="facilities")
            locations = self._locations(actor, organizations[OPERATOR[0]])
            terminals = self._terminals(actor, locations)
            self._cards(actor, locations["honten-cab-a"], terminals)
            self._accounts(User.objects.get(username="security"), terminals)
            self._supervision(organizations)
            self._access_log_mapping()
            self._arrangement(organizations)

        # The audit-trail page shows the chain's last check: one now, not in AUDIT_CHECK_SECONDS.
        chain_check(seal=True)
        if self.created:
            self.stdout.write(self.style.SUCCESS(f"Demo data: {self.created} objects created."))
        else:
            self.stdout.write("Demo data already in place: nothing changed.")
        self.stdout.write("Demo logins (username / password / role):")
        for username, password, role, _org in USERS:
            self.stdout.write(f"  {username:<12} {password:<18} {role}")
        if not all(new_users.values()):
            self.stdout.write("Users from an earlier run keep the password they have now.")
        self.stdout.write(
            "Second factor (security, facilities): authenticator secrets (TOTP, base32), or "
            "`manage.py totp_code <username>` for the current code:"
        )
        for username, secret in DEMO_TOTP_SECRETS.items():
            self.stdout.write(f"  {username:<12} {secret}")

    def _authenticators(self) -> None:
        """The demo staff's authenticator apps, enrolled with the published secrets and marked
        as demo devices (only those `manage.py totp_code` tells the code of)."""
        for username, secret in DEMO_TOTP_SECRETS.items():
            demo_authenticator_enrol(user=User.objects.get(username=username), secret=secret)

    def _organization(self, code: str, name: str, kind: str) -> Organization:
        found = Organization.objects.filter(code=code).first()
        if found:
            return found
        self.created += 1
        return organization_create(actor=None, code=code, name=name, kind=kind)

    def _user(self, username: str, password: str, role: str, organization: Organization) -> bool:
        if User.objects.filter(username=username).exists():
            return False
        self.created += 1
        user_create(
            actor=None,
            username=username,
            role=role,
            password=password,
            organization=organization,
            email=f"{username}@example.jp",
        )
        return True

    def _locations(self, actor: User, operator: Organization) -> dict[str, Location]:
        locations: dict[str, Location] = {}
        for code, name, kind, parent, secured in LOCATIONS:
            found = Location.objects.filter(code=code).first()
            if found is None:
                self.created += 1
                found = inventory.location_create(
                    actor=actor,
                    code=code,
                    name=name,
                    kind=kind,
                    custodian=operator,
                    parent=locations[parent] if parent else None,
                    secured=secured,
                    address=SITE_ADDRESS if kind == Location.Kind.SITE else "",
                )
            locations[code] = found
        return locations

    def _terminals(self, actor: User, locations: dict[str, Location]) -> dict[str, Terminal]:
        terminals: dict[str, Terminal] = {}
        for n in range(1, TERMINAL_COUNT + 1):
            tag = f"NW-{n:04d}"
            found = Terminal.objects.filter(asset_tag=tag).first()
            if found is None:
                self.created += 1
                if tag == UNSECURED_TAG:
                    location = locations["honten-main-1f-meeting"]
                else:
                    location = locations["honten-cab-a" if n <= 15 else "honten-cab-b"]
                found = inventory.terminal_create(
                    actor=actor,
                    asset_tag=tag,
                    location=location,
                    custodian=location.custodian,
                    serial_number=f"PF4X{n:04d}",
                    hostname=f"nwpc-{n:04d}",
                    model_name=MODELS[n % len(MODELS)],
                )
                # Only a terminal this run created gets its demo state: reruns change nothing.
                if tag in MAINTENANCE_TAGS:
                    found = inventory.terminal_send_to_maintenance(
                        terminal=found, actor=actor, reason=MAINTENANCE_TAGS[tag]
                    )
                elif tag == LOST_TAG:
                    found = inventory.terminal_mark_lost(
                        terminal=found, actor=actor, reason="災害対応後、返却時に所在不明"
                    )
            terminals[tag] = found
        return terminals

    def _cards(self, actor: User, cabinet: Location, terminals: dict[str, Terminal]) -> None:
        for n in range(1, ENTRY_CARDS + SIGN_IN_CARDS + 1):
            number = f"IC-{n:04d}"
            if AccessCard.objects.filter(card_number=number).exists():
                continue
            self.created += 1
            sign_in = n > ENTRY_CARDS
            inventory.access_card_create(
                actor=actor,
                card_number=number,
                kind=AccessCard.Kind.SIGN_IN if sign_in else AccessCard.Kind.ENTRY,
                location=cabinet,
                # Each sign-in card belongs with one terminal in the same cabinet.
                terminal=terminals[f"NW-{n - ENTRY_CARDS:04d}"] if sign_in else None,
            )

    def _supervision(self, organizations: dict[str, Organization]) -> None:
        """Contractor supervision (issue #12): the demo contractor's yearly report, accepted,
        and its operators' trainings (one expiring soon, one without the undertaking); the
        other contractor has no report yet, so its page shows what is missing."""
        contractor = organizations["kanto-densetsu"]
        security = User.objects.get(username="security")
        today = timezone.localdate()
        if not ContractorReport.objects.filter(contractor=contractor).exists():
            self.created += 1
            report = supervision.contractor_report_submit(
                actor=User.objects.get(username="contractor"),
                contractor=contractor,
                period_start=today - timedelta(days=60),
                period_end=today + timedelta(days=305),
                answers={code: "yes" for code, _question in supervision.CHECKLIST},
            )
            supervision.contractor_report_accept(report=report, actor=security)
        # name, days since the training, days until it expires, undertaking signed
        for name, done, left, signed in SUPERVISION_TRAININGS:
            if OperatorTraining.objects.filter(contractor=contractor, operator_name=name).exists():
                continue
            self.created += 1
            supervision.operator_training_record(
                actor=security,
                contractor=contractor,
                operator_name=name,
                course="情報セキュリティ・個人情報保護研修",
                completed_on=today - timedelta(days=done),
                expires_on=today + timedelta(days=left),
                undertaking_signed_on=today - timedelta(days=done) if signed else None,
            )

    def _access_log_mapping(self) -> None:
        """The call-centre system's access-log mapping, so that the sample log uploads as is."""
        target = TargetSystem.objects.get(code=ACCESS_LOG_TARGET)
        if AccessLogMapping.objects.filter(target_system=target).exists():
            return
        self.created += 1
        access_log_mapping_update(
            target_system=target,
            actor=User.objects.get(username="security"),
            **ACCESS_LOG_MAPPING,
        )

    def _arrangement(self, organizations: dict[str, Organization]) -> None:
        """A time-boxed arrangement (issue #12) that `security` proposed and `security2` may
        approve; once approved it ends by itself after ARRANGEMENT_DAYS days."""
        if Arrangement.objects.filter(title=ARRANGEMENT_TITLE).exists():
            return
        self.created += 1
        now = timezone.now()
        arrangements.arrangement_propose(
            actor=User.objects.get(username="security"),
            title=ARRANGEMENT_TITLE,
            reason=ARRANGEMENT_REASON,
            parties=[organizations["kanto-densetsu"]],
            terminals=Terminal.objects.filter(asset_tag__in=ARRANGEMENT_TAGS),
            starts_at=now,
            ends_at=now + timedelta(days=ARRANGEMENT_DAYS),
        )

    def _accounts(self, actor: User, terminals: dict[str, Terminal]) -> None:
        for code, name in TARGET_SYSTEMS:
            target = TargetSystem.objects.filter(code=code).first()
            if target is None:
                self.created += 1
                target = target_system_create(actor=actor, code=code, name=name, connector="local")
            for terminal in terminals.values():
                if terminal.status == Terminal.Status.LOST:
                    continue
                if Account.objects.filter(target_system=target, terminal=terminal).exists():
                    continue
                self.created += 1
                account_create(actor=actor, target_system=target, terminal=terminal)
