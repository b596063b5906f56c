"""Contractor supervision (委託先の監督): the yearly security report and its checklist, the
operator's audits of a contractor, each named operator's training and signed undertaking, and the
time-limited exceptions a security officer grants during a declared disaster. Services (writes,
one function per transition with its audit event) and selectors (reads) for these models.

Who records what:
- A contractor's users submit their own organization's yearly report; a security officer may
  submit one for any contractor (a report handed over on paper) and reviews every report.
- Audits and operators' trainings are recorded by security only. A training is what lets an
  operator receive a terminal; recorded by the contractor itself it would be a self-declaration
  that nobody checked, so the operator records it from the evidence (attendance sheet, signed
  undertaking) the contractor hands over. Contractors see their own records.

Lending asks here (lending.selectors.checkout_refusals, lending.services.access_request_errors):
this module imports neither of them, so both may import it."""

import logging
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from core.audit import (
    format_iso_datetime,
    record_event,
    register_action_labels,
    register_detail_labels,
    register_detail_values,
)
from core.emails import bilingual
from core.errors import InvalidInput, Reason, RuleViolation
from core.models import Organization, User
from core.selectors import users_holding
from core.transitions import check_transition
from lending.models import (
    ContractorAudit,
    ContractorReport,
    DataDisposition,
    Declaration,
    DeclarationKind,
    DeclarationStatus,
    OperatorTraining,
    ReportOutcome,
    SupervisionException,
)

# The checklist handed in with the yearly report: each question answered yes or no.
CHECKLIST: list[tuple[str, Any]] = [
    (
        "policy",
        gettext_lazy(
            "A written confidentiality and security policy covers the work done for the operator."
        ),
    ),
    (
        "training",
        gettext_lazy("Every operator who uses the operator's systems was trained this year."),
    ),
    (
        "undertaking",
        gettext_lazy(
            "Every such operator signed the undertaking to use personal data only for disaster "
            "work."
        ),
    ),
    (
        "disposal",
        gettext_lazy(
            "Data and printouts obtained for the work are returned or destroyed after it."
        ),
    ),
    ("incidents", gettext_lazy("Security incidents are reported to the operator at once.")),
]
ANSWERS = ("yes", "no")
REPORT_FILE_MAX_BYTES = 10 * 1024 * 1024
# A yearly report covers a year, with some slack for the fiscal calendar.
REPORT_MAX_DAYS = 400

# What the supervision page shows of each record (status badges).
CURRENT, EXPIRING, EXPIRED, MISSING = "current", "expiring", "expired", "missing"
STATE_LABELS = {
    CURRENT: pgettext_lazy("supervision status", "Current"),
    EXPIRING: pgettext_lazy("supervision status", "Expiring soon"),
    EXPIRED: pgettext_lazy("supervision status", "Expired"),
    MISSING: pgettext_lazy("supervision status", "Missing"),
}

# Who reviews reports and grants exceptions: security officers.
REVIEWS = "lending.change_contractorreport"

logger = logging.getLogger(__name__)


def person_key(name: str) -> str:
    """A typed name as lending.services.same_person compares it: full width or not, with or
    without the space."""
    return "".join(unicodedata.normalize("NFKC", name).split())


def _today(on: date | None = None) -> date:
    return on or timezone.localdate()


def _supervision_url(contractor: Organization) -> str:
    return reverse("lending:supervision", args=[contractor.code])


def _sees_every_contractor(user: User) -> bool:
    return user.has_perm("lending.oversee_lending")


# Selectors ------------------------------------------------------------------------------------


def supervised_contractors(*, user: User) -> QuerySet[Organization]:
    """The contractors whose supervision this user may read: every one for staff, security and
    auditors; their own organization for a contractor's users."""
    qs = Organization.objects.filter(kind=Organization.Kind.CONTRACTOR).order_by("name")
    if not user.has_perm("lending.view_contractorreport"):
        return qs.none()
    if _sees_every_contractor(user):
        return qs
    return qs.filter(pk=user.organization_id) if user.organization_id else qs.none()


def contractor_report_queryset(*, user: User) -> QuerySet[ContractorReport]:
    return ContractorReport.objects.filter(
        contractor__in=supervised_contractors(user=user)
    ).select_related("contractor", "submitted_by", "reviewed_by")


def operator_training_queryset(*, user: User) -> QuerySet[OperatorTraining]:
    if not user.has_perm("lending.view_operatortraining"):
        return OperatorTraining.objects.none()
    return OperatorTraining.objects.filter(
        contractor__in=supervised_contractors(user=user)
    ).select_related("contractor", "recorded_by")


def supervision_exception_queryset(*, user: User) -> QuerySet[SupervisionException]:
    if not user.has_perm("lending.view_supervisionexception"):
        return SupervisionException.objects.none()
    return SupervisionException.objects.filter(
        contractor__in=supervised_contractors(user=user)
    ).select_related("contractor", "declaration", "granted_by")


def current_report(*, contractor: Organization, on: date | None = None) -> ContractorReport | None:
    """The accepted report whose period covers the day (today by default)."""
    on = _today(on)
    return (
        ContractorReport.objects.filter(
            contractor=contractor,
            outcome=ReportOutcome.ACCEPTED,
            period_start__lte=on,
            period_end__gte=on,
        )
        .order_by("-period_end")
        .first()
    )


def report_is_current(*, contractor: Organization, on: date | None = None) -> bool:
    return current_report(contractor=contractor, on=on) is not None


def _trainings_of(contractor: Organization, operator_name: str) -> list[OperatorTraining]:
    key = person_key(operator_name)
    return [
        training
        for training in OperatorTraining.objects.filter(contractor=contractor).order_by(
            "-expires_on", "-id"
        )
        if person_key(training.operator_name) == key
    ]


def current_training(
    *, contractor: Organization, operator_name: str, on: date | None = None
) -> OperatorTraining | None:
    """The named operator's training that is valid on the day, with the undertaking signed."""
    on = _today(on)
    return next(
        (
            training
            for training in _trainings_of(contractor, operator_name)
            if training.expires_on >= on
            and training.undertaking_signed_on is not None
            and training.undertaking_signed_on <= on
        ),
        None,
    )


def training_is_current(
    *, contractor: Organization, operator_name: str, on: date | None = None
) -> bool:
    return current_training(contractor=contractor, operator_name=operator_name, on=on) is not None


def report_problem(*, contractor: Organization, on: date | None = None) -> str | None:
    """Why the contractor's report does not allow lending today, in words (None: it does)."""
    on = _today(on)
    if report_is_current(contractor=contractor, on=on):
        return None
    latest = (
        ContractorReport.objects.filter(
            contractor=contractor, outcome=ReportOutcome.ACCEPTED, period_end__lt=on
        )
        .order_by("-period_end")
        .first()
    )
    if latest is not None:
        return _(
            "The yearly security report of %(contractor)s expired on %(date)s: a new one must "
            "be accepted first."
        ) % {"contractor": contractor.name, "date": latest.period_end.isoformat()}
    return _("%(contractor)s has no accepted yearly security report covering today.") % {
        "contractor": contractor.name
    }


def training_problem(
    *, contractor: Organization, operator_name: str, on: date | None = None
) -> str | None:
    """Why the named operator may not receive a terminal today, in words (None: they may)."""
    on = _today(on)
    trainings = _trainings_of(contractor, operator_name)
    name = operator_name.strip()
    valid = [t for t in trainings if t.expires_on >= on]
    if any(t.undertaking_signed_on is not None and t.undertaking_signed_on <= on for t in valid):
        return None
    if valid:
        return _("%(name)s has not signed the undertaking on the use of personal data.") % {
            "name": name
        }
    if trainings:
        return _("The training of %(name)s lapsed on %(date)s.") % {
            "name": name,
            "date": trainings[0].expires_on.isoformat(),
        }
    return _("%(name)s has no training on record.") % {"name": name}


def active_exceptions(
    *, declaration: Declaration, contractor: Organization, now: datetime | None = None
) -> list[SupervisionException]:
    """The exceptions in force now for the contractor under the declaration (while active)."""
    now = now or timezone.now()
    if declaration.status != DeclarationStatus.ACTIVE:
        return []
    return list(
        SupervisionException.objects.filter(
            declaration=declaration,
            contractor=contractor,
            granted_at__lte=now,
            expires_at__gt=now,
        ).order_by("-expires_at")
    )


@dataclass
class SupervisionCheck:
    """What the supervision rules say about one check-out: the reasons that refuse it, and the
    exceptions that let it through although a rule would refuse it."""

    reasons: list[str] = field(default_factory=list)
    exceptions: list[SupervisionException] = field(default_factory=list)


def checkout_annotations(*, operator_name: str | None, on: date | None = None) -> dict:
    """What the check-out reads of the supervision in the same statement as the request it
    locks (annotations on the AccessRequest query): whether the contractor's report is current
    and whether the operator, spelled exactly as typed, has a current training. A check-out
    within the rules then costs no statement of its own; anything else is read again by
    checkout_check (another spelling of the name, the problem in words, the exceptions)."""
    on = _today(on)
    annotations = {
        "supervision_report_current": Exists(
            ContractorReport.objects.filter(
                contractor=OuterRef("contractor"),
                outcome=ReportOutcome.ACCEPTED,
                period_start__lte=on,
                period_end__gte=on,
            )
        )
    }
    if operator_name and operator_name.strip():
        annotations["supervision_training_current"] = Exists(
            OperatorTraining.objects.filter(
                contractor=OuterRef("contractor"),
                operator_name=operator_name.strip(),
                expires_on__gte=on,
                undertaking_signed_on__lte=on,
            )
        )
    return annotations


def checkout_check(
    *,
    declaration: Declaration,
    contractor: Organization,
    operator_name: str | None,
    now: datetime | None = None,
    report_current: bool | None = None,
    training_current: bool | None = None,
) -> SupervisionCheck:
    """The contractor's report must be current, and the receiving operator's training (when
    named): otherwise a refusal, unless an exception in force covers it. `report_current` and
    `training_current` are what checkout_annotations read already (True: no need to ask)."""
    now = now or timezone.now()
    on = timezone.localdate(now)
    check = SupervisionCheck()
    url = _supervision_url(contractor)
    problems: list[tuple[str, str]] = []  # (operator name, or "" for the report; the problem)
    if not report_current:
        problem = report_problem(contractor=contractor, on=on)
        if problem:
            problems.append(("", problem))
    if operator_name and operator_name.strip() and not training_current:
        problem = training_problem(contractor=contractor, operator_name=operator_name, on=on)
        if problem:
            problems.append((operator_name, problem))
    if not problems:
        return check
    exceptions = active_exceptions(declaration=declaration, contractor=contractor, now=now)
    for name, problem in problems:
        covering = next(
            (
                e
                for e in exceptions
                if (not name and not e.operator_name)
                or (name and e.operator_name and person_key(e.operator_name) == person_key(name))
            ),
            None,
        )
        if covering is not None:
            check.exceptions.append(covering)
        else:
            check.reasons.append(Reason(problem, url))
    return check


def operator_errors(
    *,
    declaration: Declaration | None,
    contractor: Organization,
    operators: list[str],
    on: date | None = None,
) -> list[str]:
    """The operators an access request may not name: each one whose training is not current,
    unless an exception for them is in force under the declaration."""
    now = timezone.now()
    exceptions = (
        active_exceptions(declaration=declaration, contractor=contractor, now=now)
        if declaration is not None
        else []
    )
    excepted = {person_key(e.operator_name) for e in exceptions if e.operator_name}
    errors = []
    for name in operators:
        if not name.strip() or person_key(name) in excepted:
            continue
        problem = training_problem(contractor=contractor, operator_name=name, on=on)
        if problem:
            errors.append(problem)
    return errors


def _state(valid_until: date | None, on: date) -> str:
    if valid_until is None:
        return MISSING
    if valid_until < on:
        return EXPIRED
    if valid_until <= on + timedelta(days=settings.SUPERVISION_REMINDER_DAYS):
        return EXPIRING
    return CURRENT


def _report_state(reports, on: date) -> str:
    """Current (or expiring) while an accepted report covers the day; expired when the last
    accepted one ended; missing when none was ever accepted."""
    accepted = [r for r in reports if r.outcome == ReportOutcome.ACCEPTED]
    covering = [r for r in accepted if r.period_start <= on <= r.period_end]
    if covering:
        return _state(max(r.period_end for r in covering), on)
    if any(r.period_end < on for r in accepted):
        return EXPIRED
    return MISSING


def supervision_status(*, contractor: Organization, on: date | None = None) -> dict:
    """What the contractor's supervision page shows: the report's state and every report, the
    audits, each operator's newest training with its state, and the exceptions."""
    on = _today(on)
    now = timezone.now()
    reports = list(
        ContractorReport.objects.filter(contractor=contractor).select_related(
            "submitted_by", "reviewed_by"
        )
    )
    current = current_report(contractor=contractor, on=on)
    report_state = _report_state(reports, on)
    # Each operator once, by their newest training (the one that counts).
    operators: dict[str, dict] = {}
    trainings = list(
        OperatorTraining.objects.filter(contractor=contractor)
        .select_related("recorded_by")
        .order_by("-expires_on", "-id")
    )
    for training in trainings:
        key = person_key(training.operator_name)
        if key in operators:
            continue
        if training.undertaking_signed_on is None and training.expires_on >= on:
            state = MISSING  # the undertaking is what is missing
        else:
            state = _state(training.expires_on, on)
        operators[key] = {"training": training, "state": state}
    exceptions = list(
        SupervisionException.objects.filter(contractor=contractor).select_related(
            "declaration", "granted_by"
        )
    )
    for exception in exceptions:
        exception.in_force = (  # type: ignore[attr-defined]
            exception.declaration.status == DeclarationStatus.ACTIVE
            and exception.granted_at <= now < exception.expires_at
        )
    return {
        "contractor": contractor,
        "report_state": report_state,
        "report_state_label": STATE_LABELS[report_state],
        "current_report": current,
        "reports": reports,
        "audits": list(
            ContractorAudit.objects.filter(contractor=contractor).select_related("recorded_by")
        ),
        "operators": sorted(operators.values(), key=lambda row: row["training"].operator_name),
        "trainings": trainings,
        "exceptions": exceptions,
        "state_labels": STATE_LABELS,
    }


def contractor_states(*, contractors) -> dict[int, str]:
    """Each contractor's report state, for the list of contractors."""
    on = _today()
    reports: dict[int, list[ContractorReport]] = defaultdict(list)
    for report in ContractorReport.objects.filter(
        contractor__in=contractors, outcome=ReportOutcome.ACCEPTED
    ):
        reports[report.contractor_id].append(report)
    return {contractor.pk: _report_state(reports[contractor.pk], on) for contractor in contractors}


def exceptions_between(*, start: datetime, end: datetime) -> QuerySet[SupervisionException]:
    """The exceptions granted in a period (for the internal audit report)."""
    return SupervisionException.objects.filter(
        granted_at__gte=start, granted_at__lt=end
    ).select_related("contractor", "declaration", "granted_by")


# Services: reports ----------------------------------------------------------------------------


def _is_contractor(organization: Organization | None) -> bool:
    return organization is not None and organization.kind == Organization.Kind.CONTRACTOR


@transaction.atomic
def contractor_report_submit(
    *,
    actor: User,
    contractor: Organization | None,
    period_start: date | None,
    period_end: date | None,
    answers: dict,
    file=None,
) -> ContractorReport:
    """A contractor's user submits their own organization's yearly report with its checklist
    (contractor None: their own); a security officer may submit one for any contractor."""
    errors: dict[str, list[str]] = {}
    if contractor is None and not _sees_every_contractor(actor):
        contractor = actor.organization
    if not _is_contractor(contractor):
        errors["contractor"] = [_("Choose the contractor the report is for.")]
    elif not actor.has_perm(REVIEWS) and actor.organization_id != contractor.pk:  # type: ignore[union-attr]
        errors["contractor"] = [_("You can submit reports only for your own organization.")]
    if period_start is None:
        errors["period_start"] = [_("Give the first day the report covers.")]
    if period_end is None:
        errors["period_end"] = [_("Give the last day the report covers.")]
    elif period_start is not None:
        if period_end < period_start:
            errors["period_end"] = [_("The period must end after it starts.")]
        elif (period_end - period_start).days > REPORT_MAX_DAYS:
            errors["period_end"] = [_("A yearly report covers at most a year.")]
    answers = answers if isinstance(answers, dict) else {}
    codes = {code for code, _question in CHECKLIST}
    cleaned = {code: str(answers.get(code, "")).strip().lower() for code in codes}
    if set(answers) - codes:
        errors["answers"] = [
            _("The checklist has no question %(codes)s.")
            % {"codes": ", ".join(sorted(str(c) for c in set(answers) - codes))}
        ]
    elif any(value not in ANSWERS for value in cleaned.values()):
        errors["answers"] = [_("Answer every question of the checklist with yes or no.")]
    if file is not None and file.size > REPORT_FILE_MAX_BYTES:
        errors["file"] = [
            _("The file is larger than %(limit)s MB.") % {"limit": REPORT_FILE_MAX_BYTES // 2**20}
        ]
    if errors:
        raise InvalidInput(_("The report was not submitted."), field_errors=errors)
    assert contractor is not None and period_start is not None and period_end is not None
    report = ContractorReport.objects.create(
        contractor=contractor,
        period_start=period_start,
        period_end=period_end,
        answers={code: cleaned[code] for code, _question in CHECKLIST},
        submitted_by=actor,
        **({"file": file} if file is not None else {}),
    )
    record_event(
        actor=actor,
        action="contractor_report.submitted",
        obj=report,
        details={
            "contractor": contractor.code,
            "period_start": period_start.isoformat(),
            "period_end": period_end.isoformat(),
            "answers": report.answers,
            "file": report.file.name or None,
        },
    )
    return report


def _review(
    *, report: ContractorReport, actor: User, to_outcome: str, note: str, action: str
) -> ContractorReport:
    report = ContractorReport.objects.select_for_update(of=("self",)).get(pk=report.pk)
    check_transition(report, to_outcome, field="outcome")
    report.outcome, report.reviewed_by, report.reviewed_at = to_outcome, actor, timezone.now()
    report.review_note = note
    report.save(update_fields=["outcome", "reviewed_by", "reviewed_at", "review_note"])
    record_event(
        actor=actor,
        action=action,
        obj=report,
        details={"contractor": report.contractor.code, "note": note},
    )
    return report


@transaction.atomic
def contractor_report_accept(
    *, report: ContractorReport, actor: User, note: str = ""
) -> ContractorReport:
    """Security accepts the report: the contractor may borrow while its period covers the day."""
    return _review(
        report=report,
        actor=actor,
        to_outcome=ReportOutcome.ACCEPTED,
        note=note.strip(),
        action="contractor_report.accepted",
    )


@transaction.atomic
def contractor_report_reject(
    *, report: ContractorReport, actor: User, note: str
) -> ContractorReport:
    """Security rejects the report, saying why (the contractor submits a corrected one)."""
    if not note.strip():
        raise InvalidInput(
            _("The report was not rejected."),
            field_errors={"note": [_("Say why the report is rejected.")]},
        )
    return _review(
        report=report,
        actor=actor,
        to_outcome=ReportOutcome.REJECTED,
        note=note.strip(),
        action="contractor_report.rejected",
    )


# Services: audits -----------------------------------------------------------------------------


@transaction.atomic
def contractor_audit_record(
    *,
    actor: User,
    contractor: Organization | None,
    audited_on: date | None,
    finding: str,
    follow_up: str = "",
    follow_up_due: date | None = None,
) -> ContractorAudit:
    errors: dict[str, list[str]] = {}
    if not _is_contractor(contractor):
        errors["contractor"] = [_("Choose the contractor that was audited.")]
    if audited_on is None:
        errors["audited_on"] = [_("Give the day of the audit.")]
    elif audited_on > timezone.localdate():
        errors["audited_on"] = [_("An audit is recorded once it has taken place.")]
    if not finding.strip():
        errors["finding"] = [_("Say what the audit found (or that it found nothing).")]
    if follow_up_due is not None and audited_on is not None and follow_up_due < audited_on:
        errors["follow_up_due"] = [_("The follow-up is due after the audit.")]
    if follow_up_due is not None and not follow_up.strip():
        errors["follow_up"] = [_("Say what must be followed up by that day.")]
    if errors:
        raise InvalidInput(_("The audit was not recorded."), field_errors=errors)
    assert contractor is not None and audited_on is not None
    audit = ContractorAudit.objects.create(
        contractor=contractor,
        audited_on=audited_on,
        finding=finding.strip(),
        follow_up=follow_up.strip(),
        follow_up_due=follow_up_due,
        recorded_by=actor,
    )
    record_event(
        actor=actor,
        action="contractor_audit.recorded",
        obj=audit,
        details={
            "contractor": contractor.code,
            "audited_on": audited_on.isoformat(),
            "follow_up_due": follow_up_due.isoformat() if follow_up_due else None,
        },
    )
    return audit


@transaction.atomic
def contractor_audit_follow_up_done(
    *, audit: ContractorAudit, actor: User, note: str = ""
) -> ContractorAudit:
    """The audit's follow-up was done: what was done is added to the follow-up text."""
    audit = ContractorAudit.objects.select_for_update(of=("self",)).get(pk=audit.pk)
    if audit.follow_up_done_at is not None:
        raise RuleViolation(_("The follow-up of this audit was already recorded as done."))
    if not note.strip():
        raise InvalidInput(
            _("Nothing was recorded."),
            field_errors={"note": [_("Say what was done.")]},
        )
    audit.follow_up_done_at = timezone.now()
    audit.follow_up = f"{audit.follow_up}\n{note.strip()}".strip()
    audit.save(update_fields=["follow_up_done_at", "follow_up"])
    record_event(
        actor=actor,
        action="contractor_audit.follow_up_done",
        obj=audit,
        details={"contractor": audit.contractor.code, "note": note.strip()},
    )
    return audit


# Services: trainings --------------------------------------------------------------------------


@transaction.atomic
def operator_training_record(
    *,
    actor: User,
    contractor: Organization | None,
    operator_name: str,
    course: str,
    completed_on: date | None,
    expires_on: date | None,
    undertaking_signed_on: date | None = None,
) -> OperatorTraining:
    """Security records a named operator's training and, when signed, their undertaking."""
    errors: dict[str, list[str]] = {}
    today = timezone.localdate()
    if not _is_contractor(contractor):
        errors["contractor"] = [_("Choose the contractor the operator works for.")]
    if not operator_name.strip():
        errors["operator_name"] = [_("Name the operator who was trained.")]
    if not course.strip():
        errors["course"] = [_("Name the course.")]
    if completed_on is None:
        errors["completed_on"] = [_("Give the day the training was completed.")]
    elif completed_on > today:
        errors["completed_on"] = [_("A training is recorded once it has been completed.")]
    if expires_on is None:
        errors["expires_on"] = [_("Give the day the training expires.")]
    elif completed_on is not None and expires_on < completed_on:
        errors["expires_on"] = [_("The training expires after it was completed.")]
    if undertaking_signed_on is not None and undertaking_signed_on > today:
        errors["undertaking_signed_on"] = [_("The undertaking cannot be signed in the future.")]
    if errors:
        raise InvalidInput(_("The training was not recorded."), field_errors=errors)
    assert contractor is not None and completed_on is not None and expires_on is not None
    training = OperatorTraining.objects.create(
        contractor=contractor,
        operator_name=operator_name.strip(),
        course=course.strip(),
        completed_on=completed_on,
        expires_on=expires_on,
        undertaking_signed_on=undertaking_signed_on,
        recorded_by=actor,
    )
    record_event(
        actor=actor,
        action="operator_training.recorded",
        obj=training,
        details={
            "contractor": contractor.code,
            "operator": training.operator_name,
            "course": training.course,
            "completed_on": completed_on.isoformat(),
            "expires_on": expires_on.isoformat(),
            "undertaking_signed_on": (
                undertaking_signed_on.isoformat() if undertaking_signed_on else None
            ),
        },
    )
    return training


@transaction.atomic
def operator_undertaking_record(
    *, training: OperatorTraining, actor: User, signed_on: date | None
) -> OperatorTraining:
    """The operator signed the undertaking after the training was recorded."""
    training = OperatorTraining.objects.select_for_update(of=("self",)).get(pk=training.pk)
    if training.undertaking_signed_on is not None:
        raise RuleViolation(_("This operator's undertaking is already on record."))
    if signed_on is None or signed_on > timezone.localdate():
        raise InvalidInput(
            _("Nothing was recorded."),
            field_errors={"signed_on": [_("Give the day the undertaking was signed.")]},
        )
    training.undertaking_signed_on = signed_on
    training.save(update_fields=["undertaking_signed_on"])
    record_event(
        actor=actor,
        action="operator_training.undertaking_signed",
        obj=training,
        details={
            "contractor": training.contractor.code,
            "operator": training.operator_name,
            "signed_on": signed_on.isoformat(),
        },
    )
    return training


# Services: exceptions -------------------------------------------------------------------------


@transaction.atomic
def supervision_exception_grant(
    *,
    actor: User,
    declaration: Declaration | None,
    contractor: Organization | None,
    reason: str,
    hours: int | None,
    operator_name: str = "",
) -> SupervisionException:
    """During a declared disaster, a security officer lets a contractor borrow although its
    report is not current (no operator named), or lets one operator receive terminals although
    their training is not: for a few hours at most, with the reason, audited."""
    errors: dict[str, list[str]] = {}
    if declaration is not None:
        declaration = Declaration.objects.select_for_update(of=("self",)).get(pk=declaration.pk)
    if declaration is None:
        errors["declaration"] = [_("Choose the declared disaster the exception is for.")]
    elif (
        declaration.status != DeclarationStatus.ACTIVE
        or declaration.kind != DeclarationKind.DISASTER
    ):
        errors["declaration"] = [_("An exception is granted only during a declared disaster.")]
    if not _is_contractor(contractor):
        errors["contractor"] = [_("Choose the contractor the exception is for.")]
    if not reason.strip():
        errors["reason"] = [_("A reason is required.")]
    maximum = settings.SUPERVISION_EXCEPTION_MAX_HOURS
    if hours is None or not 1 <= hours <= maximum:
        errors["hours"] = [_("An exception lasts between 1 and %(max)s hours.") % {"max": maximum}]
    if errors:
        raise InvalidInput(_("No exception was granted."), field_errors=errors)
    assert declaration is not None and contractor is not None and hours is not None
    now = timezone.now()
    exception = SupervisionException.objects.create(
        declaration=declaration,
        contractor=contractor,
        operator_name=operator_name.strip(),
        reason=reason.strip(),
        granted_by=actor,
        granted_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    record_event(
        actor=actor,
        action="supervision_exception.granted",
        obj=exception,
        details={
            "declaration": declaration.pk,
            "contractor": contractor.code,
            "operator": exception.operator_name or None,
            "covers": "training" if exception.operator_name else "report",
            "reason": exception.reason,
            "expires_at": exception.expires_at.isoformat(),
        },
    )
    return exception


# Reminders ------------------------------------------------------------------------------------


def _newest_only(items: list, key, until) -> list:
    """Drop an item when a newer one of the same subject is valid longer (it was renewed)."""
    latest: dict[Any, date] = {}
    for item in items:
        latest[key(item)] = max(latest.get(key(item), until(item)), until(item))
    return [item for item in items if until(item) >= latest[key(item)]]


def _claim(model, items: list, now: datetime) -> list:
    """Take each item for this run only if no other run took it (compare-and-set)."""
    return [
        item
        for item in items
        if model.objects.filter(pk=item.pk, reminder_sent_at__isnull=True).update(
            reminder_sent_at=now
        )
    ]


def supervision_reminders(*, now: datetime | None = None) -> int:
    """One summary email per recipient listing every report and training that expires within
    SUPERVISION_REMINDER_DAYS: a contractor's users get their own organization's, security
    officers get all. Each item is reminded once (reminder_sent_at). Answers how many emails."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    horizon = today + timedelta(days=settings.SUPERVISION_REMINDER_DAYS)
    accepted = ContractorReport.objects.filter(outcome=ReportOutcome.ACCEPTED)
    reports = _newest_only(
        list(accepted.filter(period_end__gte=today).select_related("contractor")),
        key=lambda r: r.contractor_id,
        until=lambda r: r.period_end,
    )
    reports = [r for r in reports if r.period_end <= horizon and r.reminder_sent_at is None]
    trainings = _newest_only(
        list(OperatorTraining.objects.filter(expires_on__gte=today).select_related("contractor")),
        key=lambda t: (t.contractor_id, person_key(t.operator_name)),
        until=lambda t: t.expires_on,
    )
    trainings = [t for t in trainings if t.expires_on <= horizon and t.reminder_sent_at is None]
    reports = _claim(ContractorReport, reports, now)
    trainings = _claim(OperatorTraining, trainings, now)
    if not reports and not trainings:
        return 0
    by_recipient: dict[str, dict[str, list]] = defaultdict(lambda: {"reports": [], "trainings": []})
    security = list(users_holding(REVIEWS).exclude(email=""))
    contractor_ids = {r.contractor_id for r in reports} | {t.contractor_id for t in trainings}
    contractor_users: dict[int, list[User]] = defaultdict(list)
    for user in User.objects.filter(organization_id__in=contractor_ids, is_active=True).exclude(
        email=""
    ):
        assert user.organization_id is not None
        contractor_users[user.organization_id].append(user)
    for kind, items in (("reports", reports), ("trainings", trainings)):
        for item in items:
            for user in contractor_users[item.contractor_id] + security:
                if item not in by_recipient[user.email][kind]:
                    by_recipient[user.email][kind].append(item)
    sent, unsent_reports, unsent_trainings = 0, set[int](), set[int]()
    for email, theirs in sorted(by_recipient.items()):
        subject, body = bilingual(
            "supervision_summary",
            {**theirs, "count": len(theirs["reports"]) + len(theirs["trainings"])},
        )
        try:
            send_mail(subject, body, None, [email])
        except Exception:  # a mail server that is down: reminded again at the next run
            logger.warning("a supervision reminder could not be sent", exc_info=True)
            unsent_reports.update(r.pk for r in theirs["reports"])
            unsent_trainings.update(t.pk for t in theirs["trainings"])
            continue
        sent += 1
    # Claimed above, so that two runs never both send; released when an email did not go out
    # (a recipient who got it may get it again: reminded twice rather than never).
    ContractorReport.objects.filter(pk__in=unsent_reports).update(reminder_sent_at=None)
    OperatorTraining.objects.filter(pk__in=unsent_trainings).update(reminder_sent_at=None)
    return sent


def register_audit_words() -> None:
    """The audit trail in words (core.audit): the supervision's actions and detail keys."""
    register_action_labels(
        {
            "contractor_report.submitted": gettext_lazy("Contractor report submitted"),
            "contractor_report.accepted": gettext_lazy("Contractor report accepted"),
            "contractor_report.rejected": gettext_lazy("Contractor report rejected"),
            "contractor_audit.recorded": gettext_lazy("Contractor audit recorded"),
            "contractor_audit.follow_up_done": gettext_lazy("Audit follow-up done"),
            "operator_training.recorded": gettext_lazy("Operator training recorded"),
            "operator_training.undertaking_signed": gettext_lazy("Operator undertaking signed"),
            "supervision_exception.granted": gettext_lazy("Supervision exception granted"),
        }
    )
    register_detail_labels(
        {
            "period_start": gettext_lazy("covers from"),
            "period_end": gettext_lazy("covers until"),
            "answers": gettext_lazy("checklist answers"),
            "file": gettext_lazy("file"),
            "note": gettext_lazy("note"),
            "audited_on": gettext_lazy("audited on"),
            "follow_up_due": gettext_lazy("follow-up due"),
            "course": gettext_lazy("course"),
            "completed_on": gettext_lazy("completed on"),
            "expires_on": gettext_lazy("expires on"),
            "undertaking_signed_on": gettext_lazy("undertaking signed on"),
            "signed_on": gettext_lazy("signed on"),
            "covers": gettext_lazy("covers"),
            "expires_at": gettext_lazy("expires at"),
            "supervision_exception": gettext_lazy("supervision exception"),
            "data_disposition": gettext_lazy("data and printouts"),
        }
    )
    register_detail_values("expires_at", format_iso_datetime)
    register_detail_values(
        "covers",
        [
            ("report", gettext_lazy("the yearly report")),
            ("training", gettext_lazy("the operator's training")),
        ],
    )
    register_detail_values("data_disposition", DataDisposition.choices, family="loan")


def request_refusals(*, request) -> list[str]:
    """What the supervision rules will refuse at the counter for an approved request: the
    contractor's report, and each operator it names (exceptions in force taken into account)."""
    reasons: list[str] = []
    for name in request.operators or [""]:
        for reason in checkout_check(
            declaration=request.declaration, contractor=request.contractor, operator_name=name
        ).reasons:
            if reason not in reasons:
                reasons.append(reason)
    return reasons
