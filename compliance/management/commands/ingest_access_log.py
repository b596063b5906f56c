"""Read one access log into sign-ins, in this process (no worker or broker needed): for a
scheduled copy job that fetches a target system's export."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from compliance.access_logs.ingestion import access_log_ingestion_create, access_log_ingestion_run
from compliance.models import AccessLogFormat, IngestionSource, IngestionStatus
from core.errors import ApplicationError
from credentials.models import TargetSystem

# The exit status of a refusal (unknown target, missing file, a file that cannot be read);
# 1 stays Django's for a crash.
REFUSED = 2


class Command(BaseCommand):
    help = (
        "Ingest an access log (CSV or JSON lines through the target's mapping, or OpenLDAP "
        "slapd stats lines) for a target system, and print the counts."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="The log file to read.")
        parser.add_argument("--target", required=True, help="The target system's code.")
        parser.add_argument(
            "--format",
            choices=AccessLogFormat.values,
            default=None,
            help="csv, jsonl or slapd; by default from the file's extension (.csv, .jsonl), "
            "else slapd for an LDAP target and csv otherwise.",
        )

    def handle(self, *args, path: str, target: str, format: str | None, **options):
        target_system = TargetSystem.objects.filter(code=target.strip()).first()
        if target_system is None:
            raise CommandError(f"No target system with code {target!r}.", returncode=REFUSED)
        file_path = Path(path)
        if not file_path.is_file():
            raise CommandError(f"No file at {path}.", returncode=REFUSED)
        chosen = format or _guess_format(file_path, target_system)
        try:
            with file_path.open("rb") as file:
                ingestion = access_log_ingestion_create(
                    actor=None,
                    target_system=target_system,
                    format=chosen,
                    file=file,
                    source=IngestionSource.COMMAND,
                    file_name=file_path.name,
                    send=False,
                )
        except ApplicationError as refused:
            details = "; ".join(m for ms in refused.field_errors.values() for m in ms)
            raise CommandError(
                f"Refused: {details or refused.message}", returncode=REFUSED
            ) from refused
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}", returncode=REFUSED) from exc
        ingestion = access_log_ingestion_run(ingestion.pk) or ingestion
        summary = (
            f"Ingestion {ingestion.pk} ({target_system.code}, {chosen}): "
            f"{ingestion.lines_read} lines read, {ingestion.accepted} accepted, "
            f"{ingestion.duplicates} duplicates, {ingestion.malformed} malformed."
        )
        if ingestion.status != IngestionStatus.DONE:
            raise CommandError(f"{summary} Failed: {ingestion.error}", returncode=REFUSED)
        self.stdout.write(self.style.SUCCESS(summary))
        for problem in ingestion.problems[:20]:
            self.stdout.write(f"  line {problem['line']}: {problem['reason']}")


def _guess_format(path: Path, target_system: TargetSystem) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return AccessLogFormat.CSV
    if suffix in (".jsonl", ".ndjson", ".json"):
        return AccessLogFormat.JSON_LINES
    return AccessLogFormat.SLAPD if target_system.connector == "ldap" else AccessLogFormat.CSV
