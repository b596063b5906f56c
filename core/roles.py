"""Roles are groups; Django permissions stand behind each role (see DESIGN.md, Roles)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    FACILITIES = "facilities", _("Facilities staff")
    SECURITY = "security", _("Security officer")
    CONTRACTOR = "contractor", _("Contractor")
    AUDITOR = "auditor", _("Auditor")


_READ_INVENTORY = [
    f"{app}.view_{model}"
    for app, model in (
        ("core", "organization"),
        ("core", "user"),  # who holds the terminals: contractors' users among them
        ("terminals", "location"),
        ("terminals", "terminal"),
        ("terminals", "accesscard"),
        ("terminals", "movement"),
    )
]

_READ_CREDENTIALS = [
    "credentials.view_targetsystem",
    "credentials.view_account",
    "credentials.view_rotation",
]

_READ_LENDING = [
    "lending.oversee_lending",
    "lending.view_declaration",
    "lending.view_accessrequest",
    "lending.view_loan",
    "lending.view_returnconfirmation",
    "compliance.view_discrepancy",
    # Contractor supervision: reports, audits, trainings, exceptions.
    "lending.view_contractorreport",
    "lending.view_contractoraudit",
    "lending.view_operatortraining",
    "lending.view_supervisionexception",
]

_READ_STOCKTAKES = ["compliance.view_stocktake", "compliance.view_scan"]
# Access logs (compliance.access_logs): the ingestions, the sign-ins read, each target's mapping.
_READ_ACCESS_LOGS = [
    "compliance.view_accesslogingestion",
    "compliance.view_signinevent",
    "compliance.view_accesslogmapping",
]
# The internal audit report (compliance.audit_report): auditors and security produce and read it.
_AUDIT_REPORTS = ["compliance.add_auditreport", "compliance.view_auditreport"]
# Reviewers: the evidence, and what a blind count hides from the scanning staff (the expected
# list, the others' scans).
_REVIEW_STOCKTAKES = [
    "compliance.view_stocktakeexpectation",
    "compliance.view_discrepancyevidence",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.FACILITIES: _READ_INVENTORY
    + _READ_CREDENTIALS
    + _READ_LENDING
    + [
        "core.add_user",  # contractor users
        "lending.change_accessrequest",  # approve, reject
        "lending.add_loan",  # check-out
        "lending.change_loan",  # return
        "core.add_organization",
        "core.change_organization",
        "terminals.add_location",
        "terminals.change_location",
        "terminals.add_terminal",
        "terminals.change_terminal",
        "terminals.add_accesscard",
        "terminals.change_accesscard",
        *_READ_STOCKTAKES,
        "compliance.add_scan",
    ],
    # Security configures target systems and accounts and forces rotations (add_rotation).
    Role.SECURITY: [
        *_READ_INVENTORY,
        *_READ_CREDENTIALS,
        "core.view_auditevent",
        # Every user's API tokens: list and revoke (core.tokens); each user manages their own.
        "core.view_apitoken",
        "core.change_apitoken",
        "credentials.add_targetsystem",
        "credentials.change_targetsystem",
        "credentials.add_account",
        "credentials.change_account",
        "credentials.add_rotation",
        *_READ_LENDING,
        "lending.add_declaration",
        "lending.change_declaration",
        "lending.revoke_loan",
        # Contractor supervision: review reports (or submit one handed over on paper), record
        # audits and operators' trainings, grant exceptions during a disaster.
        "lending.add_contractorreport",
        "lending.change_contractorreport",
        "lending.add_contractoraudit",
        "lending.change_contractoraudit",
        "lending.add_operatortraining",
        "lending.change_operatortraining",
        "lending.add_supervisionexception",
        # Time-boxed arrangements: propose, approve another officer's, extend.
        "lending.view_arrangement",
        "lending.add_arrangement",
        "lending.change_arrangement",
        *_READ_STOCKTAKES,
        *_REVIEW_STOCKTAKES,
        "compliance.add_stocktake",  # open by hand
        "compliance.change_stocktake",  # close
        "compliance.change_discrepancy",  # assign, resolve, run the policy checks
        "compliance.add_discrepancyevidence",
        *_READ_ACCESS_LOGS,
        "compliance.add_accesslogingestion",  # upload a log
        "compliance.change_accesslogmapping",  # how a target's exported log reads
        *_AUDIT_REPORTS,
    ],
    Role.AUDITOR: [
        *_READ_INVENTORY,
        *_READ_CREDENTIALS,
        *_READ_LENDING,
        *_READ_STOCKTAKES,
        *_REVIEW_STOCKTAKES,
        *_READ_ACCESS_LOGS,
        "core.view_auditevent",
        *_AUDIT_REPORTS,
        "lending.view_arrangement",
    ],
    # What a contractor sees of these is limited to their own organization in lending.selectors.
    Role.CONTRACTOR: [
        "lending.view_declaration",
        "lending.add_accessrequest",
        "lending.view_accessrequest",
        "lending.view_loan",
        "lending.reveal_own_loan",
        # Their own organization's supervision: they submit the yearly report and read the rest.
        "lending.view_contractorreport",
        "lending.add_contractorreport",
        "lending.view_contractoraudit",
        "lending.view_operatortraining",
        "lending.view_supervisionexception",
    ],
}


def ensure_role_groups(**_: object) -> None:
    """Create each role's group with exactly its permissions (run after migrations)."""
    from django.contrib.auth.models import Group, Permission

    for role, perms in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            found = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if found is not None:
                wanted.append(found)
        group.permissions.set(wanted)


def user_role(user) -> str | None:
    """The user's role, read once per user object (a request has one: the page's context and
    the selectors ask it again), as Django keeps the user's permissions."""
    if not user.is_authenticated:
        return None
    if not hasattr(user, "_role_cache"):
        names = {group.name for group in user.groups.all()}
        user._role_cache = next((role.value for role in Role if role.value in names), None)
    return user._role_cache
