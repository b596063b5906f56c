"""The sign-in forms: password (with the lockout), the second factor, an API token's name."""

import datetime

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from core import lockout


class SignInForm(AuthenticationForm):
    """Django's sign-in form, refused while the username or the client address is locked out
    (core.lockout), each failure counted."""

    locked_until: datetime.datetime | None = None

    def clean(self):
        username = (self.cleaned_data.get("username") or "")[:150]
        until = lockout.locked_until(self.request, username)
        if until is not None:
            self.locked_until = until
            raise forms.ValidationError(lockout.message(until), code="locked_out")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            if self.cleaned_data.get("password"):
                self.locked_until = lockout.record_failure(self.request, username)
                if self.locked_until is not None:
                    raise forms.ValidationError(
                        lockout.message(self.locked_until), code="locked_out"
                    ) from None
            raise
        if self.get_user() is not None:
            lockout.record_success(username)
        return cleaned


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        ),
    )


class TokenNameForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        required=False,
        help_text=_("What uses it, to tell your tokens apart (e.g. scanner at the north depot)."),
    )
