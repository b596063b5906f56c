"""Credential pages: the terminal's accounts, security's rotation queue and forced rotations,
and the manual-rotation task of a target's administrators. No page shows a password except the
manual task (to that target's administrators) and, in lending, the borrower's reveal page."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

import credentials.accounts
import credentials.rotation
from core.errors import ApplicationError
from core.identifiers import normalise_identifier
from core.web import confirmation, confirmed, requires, safe_next
from credentials import selectors
from credentials.forms import AccountCreateForm
from credentials.models import Account, Rotation, RotationStatus, TargetSystem
from credentials.permissions import DECIDES_ROTATIONS
from terminals.models import Terminal


@require_GET
@requires("credentials.view_rotation")
def rotation_queue(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "credentials/rotation_queue.html",
        {
            "rotations": selectors.rotation_queue(user=request.user),
            "targets": selectors.target_system_queryset(user=request.user),
        },
    )


@require_GET
@requires("credentials.view_targetsystem")
def target_system_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "credentials/target_system_list.html",
        {"targets": selectors.target_system_queryset(user=request.user)},
    )


@require_POST
@requires("credentials.add_rotation")
def rotation_force(request: HttpRequest) -> HttpResponse:
    """Force rotations of one account, of a terminal's accounts, or of a target's accounts."""
    if request.POST.get("account"):
        account = request.POST["account"].strip()
        accounts = Account.objects.filter(pk=int(account) if account.isdecimal() else None)
    elif request.POST.get("terminal"):
        accounts = Account.objects.filter(
            terminal__asset_tag=normalise_identifier(request.POST["terminal"])
        )
    elif request.POST.get("target_system"):
        target = TargetSystem.objects.filter(code=request.POST["target_system"]).first()
        accounts = Account.objects.filter(target_system=target)
        # A whole target at once is many accounts: ask first, naming how many.
        if target is not None and not confirmed(request):
            if request.user.has_perm(DECIDES_ROTATIONS):  # else the service below refuses
                return _confirm_target_rotation(request, target)
            accounts = Account.objects.none()
    else:
        accounts = Account.objects.none()
    try:
        rotations = credentials.rotation.rotation_force(actor=request.user, accounts=accounts)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            ngettext(
                "%(n)d rotation was requested.", "%(n)d rotations were requested.", len(rotations)
            )
            % {"n": len(rotations)},
        )
    return redirect(safe_next(request, reverse("credentials:rotations")))


def _confirm_target_rotation(request: HttpRequest, target: TargetSystem) -> HttpResponse:
    counts = selectors.target_rotation_summary(target_system=target)
    effects = [
        ngettext(
            "%(n)d account gets a new random login ID and password on %(target)s.",
            "%(n)d accounts get a new random login ID and password on %(target)s.",
            counts["accounts"],
        )
        % {"n": counts["accounts"], "target": target.name}
    ]
    if counts["in_use"]:
        effects.append(
            ngettext(
                "%(n)d of them is in use on a lent terminal right now.",
                "%(n)d of them are in use on lent terminals right now.",
                counts["in_use"],
            )
            % {"n": counts["in_use"]}
        )
    if counts["already_rotating"]:
        effects.append(
            ngettext(
                "%(n)d of them is already being rotated and keeps that rotation.",
                "%(n)d of them are already being rotated and keep that rotation.",
                counts["already_rotating"],
            )
            % {"n": counts["already_rotating"]}
        )
    return confirmation(
        request,
        action=_("rotate every account of %(target)s") % {"target": target.name},
        effects=effects,
        cancel_url=safe_next(request, reverse("credentials:rotations")),
        button=_("Rotate all"),
        title=_("Rotate every account of a target system"),
    )


@require_POST
@requires("credentials.add_account")
def account_create(request: HttpRequest, asset_tag: str) -> HttpResponse:
    terminal = get_object_or_404(Terminal, asset_tag=asset_tag)
    form = AccountCreateForm(request.POST)
    if form.is_valid():
        try:
            account = credentials.accounts.account_create(
                actor=request.user,
                target_system=form.cleaned_data["target_system"],
                terminal=terminal,
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                _(
                    "An account on %(target)s was created; "
                    "its first rotation sets its login ID and password."
                )
                % {"target": account.target_system.name},
            )
    else:
        messages.error(request, _("Choose a target system."))
    return redirect("terminals:detail", asset_tag=terminal.asset_tag)


@never_cache
@require_http_methods(["GET", "POST"])
@requires("credentials.view_rotation")
def manual_rotation(request: HttpRequest, pk: int) -> HttpResponse:
    """A `manual` target's task: an administrator sees the values and confirms they were set;
    a second administrator signs in with them and verifies."""
    rotation = get_object_or_404(
        Rotation.objects.select_related(
            "account__target_system", "account__terminal", "set_confirmed_by"
        ),
        pk=pk,
    )
    target: TargetSystem = rotation.account.target_system
    is_admin = target.administrators.filter(pk=request.user.pk).exists()
    values = None
    if request.method == "POST":
        if not is_admin:
            raise PermissionDenied
        step = request.POST.get("step")
        try:
            if step == "show":
                values = credentials.rotation.manual_rotation_values(
                    rotation=rotation, actor=request.user
                )
            elif step == "confirm":
                credentials.rotation.manual_rotation_confirm_set(
                    rotation=rotation, actor=request.user
                )
                messages.success(request, _("Recorded: the new values were set on the target."))
                return redirect("credentials:manual", pk=rotation.pk)
            elif step == "verify":
                credentials.rotation.manual_rotation_verify(rotation=rotation, actor=request.user)
                messages.success(
                    request, _("Verified: the new login ID and password are now current.")
                )
                return redirect("credentials:rotations")
        except ApplicationError as exc:
            messages.error(request, exc.message)
        rotation.refresh_from_db()
    return render(
        request,
        "credentials/manual_rotation.html",
        {
            "rotation": rotation,
            "target": target,
            "is_admin": is_admin,
            "values": values,
            "awaiting_admin": rotation.status == RotationStatus.AWAITING_ADMIN,
            "awaiting_verification": rotation.status == RotationStatus.AWAITING_VERIFICATION,
        },
    )
