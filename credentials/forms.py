from django import forms
from django.utils.translation import gettext_lazy as _

from credentials.models import TargetSystem


class AccountCreateForm(forms.Form):
    target_system = forms.ModelChoiceField(
        queryset=TargetSystem.objects.all(), label=_("Target system"), empty_label=None
    )
