"""Access-log API: `POST /access-logs/` takes a file (multipart) or lines (JSON) and answers 202
with the queued ingestion; `GET /access-logs/` and `/{id}/` show ingestions and their counts;
`GET /sign-ins/` lists the sign-ins read, filtered as on the page."""

import io

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from compliance.access_logs.ingestion import access_log_ingestion_create
from compliance.access_logs.parsers import MAX_LINE_BYTES
from compliance.access_logs.selectors import (
    SignInFilter,
    ingestion_list,
    latest_first,
    sign_in_list,
)
from compliance.models import AccessLogFormat, AccessLogIngestion, IngestionSource, SignInEvent
from core.api.serializers import validated
from core.input_limits import LimitedJSONParser, MaxUploadSize
from credentials.models import TargetSystem

MAX_LINES = 100_000


class AccessLogIngestionSerializer(serializers.ModelSerializer):
    target = serializers.SlugRelatedField(source="target_system", slug_field="code", read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    problems = serializers.ListField(
        child=serializers.DictField(),
        read_only=True,
        help_text=_("The first malformed lines: their numbers and what is wrong."),
    )

    class Meta:
        model = AccessLogIngestion
        fields = [
            "id",
            "target",
            "format",
            "source",
            "file_name",
            "file_sha256",
            "status",
            "status_label",
            "lines_read",
            "accepted",
            "malformed",
            "duplicates",
            "problems",
            "error",
            "created_by",
            "created_at",
            "started_at",
            "progressed_at",
            "finished_at",
        ]
        read_only_fields = fields


class TargetCodeField(serializers.SlugRelatedField):
    default_error_messages = {
        "does_not_exist": _("No target system with code %(value)s."),
        "invalid": _("Give the target system's code."),
    }

    def __init__(self, **kwargs):
        super().__init__(slug_field="code", queryset=TargetSystem.objects.all(), **kwargs)

    def to_internal_value(self, data):
        try:
            return self.get_queryset().get(code=str(data).strip())
        except TargetSystem.DoesNotExist:
            self.fail("does_not_exist", value=str(data)[:40])
        except (TypeError, ValueError):
            self.fail("invalid")


class AccessLogInputSerializer(serializers.Serializer):
    target = TargetCodeField()
    format = serializers.ChoiceField(choices=AccessLogFormat.choices)
    file = serializers.FileField(
        required=False,
        validators=[MaxUploadSize("ACCESS_LOG_UPLOAD_MAX_BYTES")],
        help_text=_("The log file (multipart)."),
    )
    lines = serializers.ListField(
        child=serializers.CharField(
            allow_blank=True, trim_whitespace=False, max_length=MAX_LINE_BYTES
        ),
        required=False,
        allow_empty=False,
        max_length=MAX_LINES,
        help_text=_("The log's lines (JSON), for a collector; a CSV's first line is its header."),
    )

    def validate_lines(self, lines: list[str]) -> list[str]:
        for number, line in enumerate(lines, 1):
            if "\n" in line or "\r" in line:
                raise serializers.ValidationError(
                    gettext("Line %(n)d holds a line break: send one line per item.")
                    % {"n": number}
                )
        return lines

    def validate(self, attrs):
        if ("file" in attrs) == ("lines" in attrs):
            raise serializers.ValidationError(
                {"file": [gettext("Send either a file or lines, not both and not neither.")]}
            )
        return attrs


class AccessLogIngestionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Access-log ingestions. Reading the file happens in the worker: the answer to a POST is
    the queued ingestion (202); its counts grow as the worker reads."""

    serializer_class = AccessLogIngestionSerializer
    parser_classes = [LimitedJSONParser, MultiPartParser, FormParser]
    filterset_fields = ["status", "format", "source"]

    def get_queryset(self):
        return ingestion_list()

    @extend_schema(request=AccessLogInputSerializer, responses={202: AccessLogIngestionSerializer})
    def create(self, request, *args, **kwargs):
        data = validated(AccessLogInputSerializer, request)
        if "file" in data:
            upload = data["file"]
            file, name = upload, upload.name
        else:
            file = io.BytesIO(("\n".join(data["lines"]) + "\n").encode("utf-8", "surrogatepass"))
            name = "lines.txt"
        ingestion = access_log_ingestion_create(
            actor=request.user,
            target_system=data["target"],
            format=data["format"],
            file=file,
            source=IngestionSource.API,
            file_name=name,
        )
        return Response(
            AccessLogIngestionSerializer(ingestion).data, status=status.HTTP_202_ACCEPTED
        )


class SignInSerializer(serializers.ModelSerializer):
    target = serializers.SlugRelatedField(source="target_system", slug_field="code", read_only=True)
    ingestion = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = SignInEvent
        fields = [
            "id",
            "target",
            "occurred_at",
            "login_id",
            "result",
            "source_host",
            "source_address",
            "ingestion",
            "line_number",
            "raw_line",
            "received_at",
        ]
        read_only_fields = fields


class SignInViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Sign-ins read from the access logs, latest first. `from` and `to` bound the time (ISO
    8601); `terminal` (asset tag) and `loan` find the sign-ins with the login IDs that were that
    terminal's at each moment."""

    serializer_class = SignInSerializer
    filterset_class = SignInFilter

    def get_queryset(self):
        return latest_first(sign_in_list())
