from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlsplit

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.roles import Role, user_role


def roles(request) -> dict:
    role = user_role(request.user) if hasattr(request, "user") else None
    return {"user_role": role, "user_role_label": Role(role).label if role else ""}


def language_return(request: HttpRequest) -> dict:
    """Where the language switcher brings the person back to: the page they are looking at.
    After a refused form (a POST answered with the page and its errors) that is the page the
    form was on, not the form's POST-only address, which would answer 405."""
    if request.method in ("GET", "HEAD"):
        return {"language_return": request.get_full_path()}
    referer = request.META.get("HTTP_REFERER", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        parts = urlsplit(referer)
        return {"language_return": parts.path + (f"?{parts.query}" if parts.query else "")}
    return {"language_return": "/"}


# The main menu ---------------------------------------------------------------------------------
# Links grouped by task. Each link shows only to whoever holds its permission (the same
# permission its page asks for); a group with one link left shows as that link, and someone
# with a single group (a contractor) gets its links in the bar itself.


@dataclass(frozen=True)
class _Entry:
    url_name: str
    label: Promise
    perm: str
    # Other pages that belong to this one (its detail pages, its forms): they mark it current.
    also: tuple[str, ...] = ()
    prefix: str = ""  # every view whose name starts with it is this link's page
    contractor_label: Promise | None = None  # contractors see only their own organization's
    # Other names the page may have: the first that resolves is the link.
    alt_names: tuple[str, ...] = ()


_GROUPS: tuple[tuple[str, Promise, tuple[_Entry, ...]], ...] = (
    (
        "inventory",
        _("Inventory"),
        (
            _Entry(
                "terminals:list",
                _("Terminals"),
                "terminals.view_terminal",
                also=(
                    "terminals:detail",
                    "terminals:create",
                    "terminals:edit",
                    "terminals:move",
                    "terminals:status",
                    "terminals:labels",
                ),
            ),
            _Entry("terminals:locations", _("Locations"), "terminals.view_location"),
            _Entry(
                "terminals:cards",
                _("Access cards"),
                "terminals.view_accesscard",
                also=("terminals:card_detail",),
            ),
            _Entry("terminals:import", _("Import"), "terminals.add_terminal"),
        ),
    ),
    (
        "lending",
        _("Lending"),
        (
            _Entry(
                "lending:declarations",
                _("Declarations"),
                "lending.view_declaration",
                also=(
                    "lending:declaration",
                    "lending:declaration-create",
                    "lending:declaration-report",
                ),
            ),
            _Entry(
                "lending:arrangements",
                _("Arrangements"),
                "lending.view_arrangement",
                prefix="lending:arrangement",
            ),
            _Entry("lending:request-create", _("Request terminals"), "lending.add_accessrequest"),
            _Entry(
                "lending:requests",
                _("Access requests"),
                "lending.view_accessrequest",
                also=("lending:request",),
                contractor_label=_("My requests"),
            ),
            _Entry("lending:request-queue", _("Request queue"), "lending.change_accessrequest"),
            _Entry("lending:checkout", _("Check-out"), "lending.add_loan"),
            _Entry("lending:returns", _("Return"), "lending.change_loan", also=("lending:return",)),
            _Entry(
                "lending:loans",
                _("Loans"),
                "lending.view_loan",
                also=("lending:loan", "lending:loan-credentials"),
                contractor_label=_("My loans"),
            ),
            _Entry(
                "lending:contractors",
                _("Contractors"),
                "core.view_user",
                also=("lending:contractor-create", "lending:contractor-user-create"),
            ),
            _Entry(
                "lending:supervisions",
                _("Contractor supervision"),
                "lending.view_contractorreport",
                prefix="lending:supervision",
                contractor_label=_("Supervision records"),
            ),
        ),
    ),
    (
        "credentials",
        _("Credentials"),
        (
            _Entry(
                "credentials:rotations",
                _("Rotations"),
                "credentials.view_rotation",
                also=("credentials:manual",),
            ),
            _Entry("credentials:targets", _("Target systems"), "credentials.view_targetsystem"),
        ),
    ),
    (
        "stocktakes",
        _("Stock-takes and findings"),
        (
            _Entry(
                "compliance:stocktake_list",
                _("Stock-takes"),
                "compliance.view_stocktake",
                prefix="compliance:stocktake_",
            ),
            _Entry(
                "compliance:discrepancy_list",
                _("Discrepancies"),
                "compliance.view_discrepancy",
                prefix="compliance:discrepancy_",
            ),
            _Entry(
                "compliance:access_log_list",
                _("Access logs"),
                "compliance.view_accesslogingestion",
                prefix="compliance:access_log_",
                also=("compliance:sign_in_list",),
            ),
        ),
    ),
    (
        "audit",
        _("Audit"),
        # The audit trail's page may not be there yet: its link appears once the URL exists.
        (
            _Entry(
                "audit",
                _("Audit trail"),
                "core.view_auditevent",
                prefix="audit",
                alt_names=("audit_trail",),
            ),
            _Entry(
                "compliance:audit_report_list",
                _("Internal audit reports"),
                "compliance.view_auditreport",
                prefix="compliance:audit_report_",
            ),
        ),
    ),
)


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str
    current: bool
    is_group: bool = False


@dataclass(frozen=True)
class NavGroup:
    key: str
    label: str
    links: list[NavLink]
    is_group: bool = True

    @property
    def current(self) -> bool:
        return any(link.current for link in self.links)


def _reverse_first(*names: str) -> str | None:
    for name in names:
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return None


def _is_current(entry: _Entry, view_name: str) -> bool:
    if not view_name:
        return False
    return (
        view_name == entry.url_name
        or view_name in entry.also
        or bool(entry.prefix and view_name.startswith(entry.prefix))
    )


class Navigation:
    """The main menu of one request, built only when a page shows it."""

    def __init__(self, request: HttpRequest):
        self.request = request
        match = getattr(request, "resolver_match", None)
        self.view_name = match.view_name if match else ""

    @cached_property
    def dashboard(self) -> NavLink:
        return NavLink(gettext("Dashboard"), reverse("dashboard"), self.view_name == "dashboard")

    @cached_property
    def items(self) -> list[NavLink | NavGroup]:
        user = self.request.user
        contractor = user_role(user) == Role.CONTRACTOR
        groups = []
        for key, label, entries in _GROUPS:
            links = []
            for entry in entries:
                if not user.has_perm(entry.perm):
                    continue
                url = _reverse_first(entry.url_name, *entry.alt_names)
                if url is None:
                    continue
                shown = (
                    entry.contractor_label if contractor and entry.contractor_label else entry.label
                )
                links.append(NavLink(str(shown), url, _is_current(entry, self.view_name)))
            if links:
                groups.append(NavGroup(key, str(label), links))
        if len(groups) == 1:
            return list(groups[0].links)
        return [group.links[0] if len(group.links) == 1 else group for group in groups]

    @cached_property
    def secondary(self) -> list[NavLink]:
        links = []
        if self.request.user.is_staff:
            links.append(NavLink(gettext("Admin"), reverse("admin:index"), False))
        links.append(NavLink(gettext("API tokens"), reverse("api-tokens"), False))
        links.append(NavLink(gettext("API docs"), reverse("api-docs"), False))
        return links


def navigation(request: HttpRequest) -> dict:
    return {"main_nav": Navigation(request)}
