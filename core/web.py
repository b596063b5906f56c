"""The helpers every app's pages share: who may open a page, where a form may send the browser
back to, how a service's refusal shows on a form, and the "are you sure?" step before an action
that cannot be undone (`confirmed` / `confirmation`)."""

from collections.abc import Callable, Sequence

from django import forms
from django.contrib.auth.decorators import login_required, permission_required, user_passes_test
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from core.errors import ApplicationError, RuleViolation


def requires(*perms: str) -> Callable:
    """All of `perms`. Anonymous users go to the login page; signed-in users without them get
    403. The API's `core.api.permissions.requires` means the same."""

    def decorator(view: Callable) -> Callable:
        return login_required(permission_required(perms, raise_exception=True)(view))

    return decorator


def requires_any(*perms: str) -> Callable:
    """Any one of `perms`; otherwise as `requires`."""

    def holds_one(user) -> bool:
        if any(user.has_perm(perm) for perm in perms):
            return True
        raise PermissionDenied

    def decorator(view: Callable) -> Callable:
        return login_required(user_passes_test(holds_one)(view))

    return decorator


def safe_next(request: HttpRequest, fallback: str) -> str:
    """The `next` the form carried, when it stays on this site; `fallback` otherwise (an open
    redirect would let a crafted link send staff to a look-alike login page)."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback


def apply_service_error(form: forms.Form, exc: ApplicationError) -> None:
    """Show a refusal where it belongs: on its field when the form has one, else above the form."""
    if isinstance(exc, RuleViolation):
        for reason in exc.reasons:
            form.add_error(None, reason)
        return
    if not exc.field_errors:
        form.add_error(None, exc.message)
    for field, messages in exc.field_errors.items():
        form.add_error(field if field in form.fields else None, messages)


# Confirmation of actions that cannot be undone -------------------------------------------------

CONFIRM_FIELD = "confirm"


def confirmed(request: HttpRequest) -> bool:
    """True when the POST carries `confirm=1`, i.e. the user pressed Confirm on the page that
    `confirmation` rendered. A view that acts irreversibly (or on many things) does:

        if not confirmed(request):
            return confirmation(request, action=..., effects=[...], cancel_url=...)
        services.do_it(...)

    and writes nothing before that line. The API does not use this: calling is confirming."""
    return request.POST.get(CONFIRM_FIELD) == "1"


def confirmation(
    request: HttpRequest,
    *,
    action: str,
    effects: Sequence[str] = (),
    cancel_url: str,
    button: str = "",
    title: str = "",
    irreversible: bool = True,
    danger: bool = True,
) -> HttpResponse:
    """The page that asks "are you sure?" (HTTP 200), rendered from templates/includes/confirm.html.

    - `action`: what the button does, as a translated phrase that follows "You are about to",
      e.g. _("lift the declaration %(title)s") % {...}.
    - `effects`: translated sentences naming what it touches and how many, computed now from a
      selector, e.g. ngettext("It will reject %(n)d open request.", ...) % {"n": n}.
    - `cancel_url`: where Cancel goes back to (usually the object's page).
    - `button`: the Confirm button's label (default "Confirm"); `title`: the page title
      (default "Confirm"); `irreversible`: add "This cannot be undone."; `danger`: red button.

    The Confirm form posts back to the same URL with every field of this POST (all values of
    repeated fields, except the CSRF token) plus `confirm=1`, so the view sees the same input
    again and this time acts (uploaded files are not carried: do not ask on a form with one).
    Validate the form, and check what the service would refuse, BEFORE asking, so that the user
    does not confirm something that is then refused."""
    fields = [
        (name, value)
        for name, values in request.POST.lists()
        if name not in ("csrfmiddlewaretoken", CONFIRM_FIELD)
        for value in values
    ]
    return render(
        request,
        "includes/confirm.html",
        {
            "confirm_action": action,
            "confirm_effects": list(effects),
            "confirm_cancel_url": cancel_url,
            "confirm_button": button or _("Confirm"),
            "confirm_title": title or _("Confirm"),
            "confirm_irreversible": irreversible,
            "confirm_danger": danger,
            "confirm_fields": fields,
            "confirm_post_url": request.get_full_path(),
        },
    )
