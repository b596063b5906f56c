"""Core pages: the audit trail (the events, newest first, filtered as the API filters them, and
whether the hash chain verified at its last check); signing in (password with lockout, then
the second factor for security and facilities staff, enrolment of an authenticator app and its
recovery codes); and the API tokens page (list, create, revoke)."""

from datetime import timedelta
from typing import cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import lockout, otp, tokens
from core.audit import chain_break_reason, latest_chain_check, unsealed_backlog
from core.errors import ApplicationError
from core.filters import AuditTrailFilter
from core.forms import CodeForm, SignInForm, TokenNameForm
from core.models import ApiToken, AuditEvent, User
from core.services import api_token_issue
from core.web import apply_service_error, requires, safe_next

PAGE_SIZE = 50
# The page's form; the API's other filters (action_prefix, since, until) work in the URL too and
# a search from the form keeps them.
# Newest first, in the order events were written: the chain's order too, but for an event whose
# transaction committed late; and an index walk, where ordering by seq would sort every seal.
NEWEST_FIRST = ("-id",)
SHOWN_FILTERS = ["actor", "action", "object_type", "object_id", "date_from", "date_to"]


@require_GET
@requires("core.view_auditevent")  # what the API's AuditEventViewSet asks for reading events
def audit_trail(request: HttpRequest) -> HttpResponse:
    filterset = AuditTrailFilter(request.GET, queryset=AuditEvent.objects.order_by(*NEWEST_FIRST))
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    # The last check of the whole chain (beat's, every AUDIT_CHECK_SECONDS): a rewritten old
    # event shows whatever the filters, and reading the page never walks the trail. A GET
    # writes nothing: events the sealer has not reached yet are listed without their number,
    # and counted in the backlog.
    check = latest_chain_check()
    backlog = unsealed_backlog()
    return render(
        request,
        "core/audit_trail.html",
        {
            "filter": filterset,
            "shown_fields": [filterset.form[name] for name in SHOWN_FILTERS],
            "kept_fields": [
                filterset.form[name]
                for name in filterset.form.fields
                if name not in SHOWN_FILTERS and request.GET.get(name)
            ],
            "page": page,
            "check": check,
            "broken_reason": chain_break_reason(check.broken_reason) if check else "",
            "check_late": check is not None
            and timezone.now() - check.checked_at
            > timedelta(seconds=3 * settings.AUDIT_CHECK_SECONDS),
            "check_minutes": max(settings.AUDIT_CHECK_SECONDS // 60, 1),
            "backlog": backlog,
            "alert_seconds": settings.AUDIT_UNSEALED_ALERT_SECONDS,
        },
    )


# Signing in -----------------------------------------------------------------------------------


class SignInView(LoginView):
    """The password step. A locked-out username or address is refused (429, Retry-After, and
    when to try again) without the password being checked; a security or facilities user goes
    on to the second factor. `next` stays on this site (LoginView checks it)."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True
    authentication_form = SignInForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.locked_until is not None:
            response.status_code = 429
            response["Retry-After"] = str(lockout.retry_after(form.locked_until))
        return response

    def form_valid(self, form):
        response = super().form_valid(form)
        if otp.session_verified(self.request.session):
            return response
        return redirect(
            reverse("second-factor") + "?" + urlencode({"next": self.get_success_url()})
        )


def _after_sign_in(request: HttpRequest) -> str:
    return safe_next(request, reverse(settings.LOGIN_REDIRECT_URL))


def _next_query(request: HttpRequest) -> str:
    return "?" + urlencode({"next": _after_sign_in(request)})


@never_cache
@require_http_methods(["GET", "POST"])
@login_required
def second_factor(request: HttpRequest) -> HttpResponse:
    """The code from the authenticator app (or a recovery code) after the password. Wrong codes
    count towards the lockout; a locked-out user is signed out."""
    if otp.session_verified(request.session):
        return redirect(_after_sign_in(request))
    user = cast(User, request.user)  # signed in: @login_required
    if otp.confirmed_authenticator(user) is None:
        return redirect(reverse("second-factor-enrol") + _next_query(request))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        until = lockout.locked_until(request, user.get_username())
        if until is None and otp.second_factor_verify(
            request=request, user=user, code=form.cleaned_data["code"]
        ):
            lockout.record_success(user.get_username())
            return redirect(_after_sign_in(request))
        until = until or lockout.record_failure(request, user.get_username())
        if until is not None:
            logout(request)
            messages.error(request, lockout.message(until))
            return redirect("login")
        form.add_error("code", _("Wrong code. Enter the 6 digits the app shows now."))
    return render(
        request,
        "registration/second_factor.html",
        {"form": form, "next": _after_sign_in(request)},
        status=400 if form.errors else 200,
    )


@never_cache
@require_http_methods(["GET", "POST"])
@login_required
def second_factor_enrol(request: HttpRequest) -> HttpResponse:
    """First sign-in of a security or facilities user: set up an authenticator app (QR code or
    the secret typed in), confirm with one code, then read the ten recovery codes, shown once."""
    user = cast(User, request.user)  # signed in: @login_required
    if not otp.needs_second_factor(user):
        raise Http404
    if otp.session_verified(request.session) or otp.confirmed_authenticator(user) is not None:
        # Enrolling again (a lost phone) follows an administrator's reset (core.admin), never
        # a signed-in session's own choice.
        return redirect(reverse("second-factor") + _next_query(request))
    device = otp.pending_authenticator(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        until = lockout.locked_until(request, user.get_username())
        if until is not None:
            logout(request)
            messages.error(request, lockout.message(until))
            return redirect("login")
        try:
            codes = otp.totp_enrol_confirm(
                request=request, user=user, code=form.cleaned_data["code"]
            )
        except ApplicationError as exc:
            lockout.record_failure(request, user.get_username())
            apply_service_error(form, exc)
        else:
            return render(
                request,
                "registration/recovery_codes.html",
                {"codes": codes, "next": _after_sign_in(request)},
            )
    return render(
        request,
        "registration/second_factor_enrol.html",
        {
            "form": form,
            "qr": otp.qr_svg(device),
            "secret": otp.secret_text(device),
            "next": _after_sign_in(request),
        },
        status=400 if form.errors else 200,
    )


# API tokens -----------------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
@login_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    """The user's API tokens (name, prefix, created, last used, expires), a new one (shown once),
    and for a security officer every user's tokens."""
    user = cast(User, request.user)  # signed in: @login_required
    form = TokenNameForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        issued = api_token_issue(user=user, name=form.cleaned_data["name"])
        form = TokenNameForm()
    everyone = user.has_perm(tokens.MANAGES_ALL_TOKENS)
    rows = [
        {"token": token, "expires": tokens.token_expiry(token)}
        for token in tokens.api_token_queryset(user=user, everyone=everyone)
    ]
    return render(
        request,
        "core/api_tokens.html",
        {
            "form": form,
            "issued": issued,
            "rows": rows,
            "everyone": everyone,
            "now": timezone.now(),
            "api_token_days": settings.API_TOKEN_DAYS,
        },
        status=400 if form.errors else 200,
    )


@require_POST
@login_required
def api_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    user = cast(User, request.user)  # signed in: @login_required
    token = get_object_or_404(ApiToken, pk=pk)
    if not tokens.may_revoke(user, token):
        raise Http404  # as if it did not exist: another user's tokens are not listed either
    try:
        tokens.api_token_revoke(token=token, actor=user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, _("The token %(prefix)s… was revoked.") % {"prefix": token.prefix}
        )
    return redirect("api-tokens")
