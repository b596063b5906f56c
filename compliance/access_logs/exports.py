"""Sign-ins as CSV for Excel. Every cell goes through core.spreadsheets.safe_cell: a log's fields
are stored as read, and a login ID or host such as =HYPERLINK(...) must stay text there."""

from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

# A download holds at most this many rows: a narrower filter gives the rest.
MAX_CSV_ROWS = 50_000


class SignInRowSerializer(serializers.Serializer):
    occurred_at = serializers.DateTimeField(label=capfirst(_("time")))
    target = serializers.CharField(source="target_system.code", label=capfirst(_("target system")))
    login_id = serializers.CharField(label=capfirst(_("login ID")))
    result = serializers.CharField(label=capfirst(_("result")))
    source_host = serializers.CharField(label=capfirst(_("source host")))
    source_address = serializers.CharField(label=capfirst(_("source address")), allow_null=True)
    ingestion = serializers.IntegerField(source="ingestion_id", label=capfirst(_("ingestion")))
    line_number = serializers.IntegerField(label=capfirst(_("line")))
    raw_line = serializers.CharField(label=capfirst(_("log line")))
