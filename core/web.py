"""The helpers every app's pages share: who may open a page, where a form may send the browser
back to, and how a service's refusal shows on a form."""

from collections.abc import Callable

from django import forms
from django.contrib.auth.decorators import login_required, permission_required, user_passes_test
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

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
