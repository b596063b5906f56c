"""The access-log pages' forms: an upload, and a target system's mapping."""

from django import forms
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from compliance.models import AccessLogFormat, AccessLogMapping
from core.input_limits import MaxUploadSize
from credentials.models import TargetSystem


class AccessLogUploadForm(forms.Form):
    target = forms.ModelChoiceField(
        label=capfirst(_("target system")),
        queryset=TargetSystem.objects.order_by("code"),
        to_field_name="code",
    )
    format = forms.ChoiceField(label=capfirst(_("format")), choices=AccessLogFormat.choices)
    file = forms.FileField(
        label=capfirst(_("log file")),
        validators=[MaxUploadSize("ACCESS_LOG_UPLOAD_MAX_BYTES")],
        help_text=_(
            "UTF-8 text. CSV and JSON lines are read through the target's mapping; slapd's stats "
            "lines as OpenLDAP writes them."
        ),
    )


class AccessLogMappingForm(forms.ModelForm):
    class Meta:
        model = AccessLogMapping
        fields = [
            "time_column",
            "login_id_column",
            "result_column",
            "source_host_column",
            "source_address_column",
            "time_format",
            "time_zone",
            "success_values",
            "failure_values",
        ]
        help_texts = {
            "time_format": _(
                "A strftime format such as %Y/%m/%d %H:%M:%S; empty for ISO 8601 "
                "(2026-11-20T10:00:00+09:00)."
            ),
            "time_zone": _("The zone of times written without an offset, e.g. Asia/Tokyo or UTC."),
            "success_values": _("Comma-separated, compared without regard to case."),
            "failure_values": _("Comma-separated, compared without regard to case."),
            "source_host_column": _("Leave empty when the log has no such column."),
            "source_address_column": _("Leave empty when the log has no such column."),
        }
