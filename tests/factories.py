import factory
from django.contrib.auth.models import Group

from core.models import Organization, User
from core.roles import Role
from terminals import services
from terminals.models import AccessCard, Location, Terminal

PASSWORD = "correct-horse-battery-9"


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"org{n}")
    name = factory.Sequence(lambda n: f"Organization {n}")
    kind = Organization.Kind.NETWORK_OPERATOR


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
