from datetime import timedelta

import factory
from django.contrib.auth.models import Group
from django.utils import timezone

from core.models import Organization, User
from core.roles import Role
from terminals import services
from terminals.models import AccessCard, Location, Terminal

PASSWORD = "correct-horse-battery-9"


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("code",)
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"org{n}")
    name = factory.Sequence(lambda n: f"Organization {n}")
    kind = Organization.Kind.NETWORK_OPERATOR

    @factory.post_generation
    def supervised(organization, create, extracted, **kwargs):
        """A contractor comes under supervision (issue #12) with a current accepted report and
        trainings for the operators the tests name; `supervised=False` for one without."""
        if create and extracted is not False and organization.kind == Organization.Kind.CONTRACTOR:
            make_supervised(organization)


# The operators the tests name in their requests: each has a current training by default.
TRAINED_OPERATORS = ("山田 太郎", "佐藤 花子", "鈴木 一郎")


def _records_clerk() -> User:
    """Who recorded the supervision records the factories make (inactive: never emailed)."""
    clerk, _created = User.objects.get_or_create(
        username="supervision-records", defaults={"is_active": False}
    )
    return clerk


def make_supervised(contractor: Organization, operators=TRAINED_OPERATORS) -> None:
    """A current accepted yearly report and a current training with the undertaking signed for
    each operator, unless the contractor already has them."""
    from lending.models import ContractorReport, ReportOutcome

    today = timezone.localdate()
    clerk = _records_clerk()
    if not ContractorReport.objects.filter(contractor=contractor).exists():
        ContractorReport.objects.create(
            contractor=contractor,
            period_start=today - timedelta(days=30),
            period_end=today + timedelta(days=335),
            answers={},
            submitted_by=clerk,
            outcome=ReportOutcome.ACCEPTED,
            reviewed_by=clerk,
            reviewed_at=timezone.now(),
        )
    for name in operators:
        make_training(contractor, name, clerk=clerk)


def make_training(contractor: Organization, operator_name: str, *, clerk=None, **fields):
    """A training of the named operator, current for a year with the undertaking signed."""
    from lending.models import OperatorTraining

    today = timezone.localdate()
    found = OperatorTraining.objects.filter(
        contractor=contractor, operator_name=operator_name
    ).first()
    if found is not None and not fields:
        return found
    return OperatorTraining.objects.create(
        contractor=contractor,
        operator_name=operator_name,
        course=fields.pop("course", "情報セキュリティ研修"),
        completed_on=fields.pop("completed_on", today - timedelta(days=10)),
        expires_on=fields.pop("expires_on", today + timedelta(days=355)),
        undertaking_signed_on=fields.pop("undertaking_signed_on", today - timedelta(days=10)),
        recorded_by=clerk or _records_clerk(),
        **fields,
    )


def make_user(username: str, role: str | None, organization: Organization | None = None) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD, organization=organization)
    if role:
        user.groups.add(Group.objects.get(name=Role(role).value))
    return user


_location_seq = iter(range(1, 10**9))


def make_location(
    *,
    kind: str = Location.Kind.SITE,
    parent: Location | None = None,
    custodian: Organization | None = None,
    secured: bool = True,
    code: str | None = None,
    name: str | None = None,
) -> Location:
    n = next(_location_seq)
    return services.location_create(
        actor=None,
        code=code or f"{kind}-{n}",
        name=name or f"{kind.title()} {n}",
        kind=kind,
        parent=parent,
        custodian=custodian or (parent.custodian if parent else OrganizationFactory()),
        secured=secured,
    )


_terminal_seq = iter(range(1, 10**9))


def make_terminal(*, location: Location, asset_tag: str | None = None, **fields) -> Terminal:
    n = next(_terminal_seq)
    return services.terminal_create(
        actor=None,
        asset_tag=asset_tag or f"NW-{n:05d}",
        location=location,
        custodian=fields.pop("custodian", location.custodian),
        serial_number=fields.pop("serial_number", f"SN{n:07d}"),
        hostname=fields.pop("hostname", f"nwpc-{n:04d}"),
        model_name=fields.pop("model_name", "ThinkPad L14"),
        **fields,
    )


def make_card(*, location: Location, terminal: Terminal | None = None, **fields) -> AccessCard:
    n = next(_terminal_seq)
    return services.access_card_create(
        actor=None,
        card_number=fields.pop("card_number", f"IC-{n:06d}"),
        kind=fields.pop("kind", AccessCard.Kind.ENTRY),
        location=location,
        terminal=terminal,
        **fields,
    )


def make_discrepancy(*, kind: str, terminal=None, access_card=None, **fields):
    """A finding as a stock-take or a check would leave it, for the review's own tests."""
    from compliance.models import Discrepancy

    subject = fields.pop("subject", None) or (
        access_card.card_number if access_card else terminal.asset_tag
    )
    return Discrepancy.objects.create(
        kind=kind, subject=subject, terminal=terminal, access_card=access_card, **fields
    )
