"""Import terminals or locations from a CSV file: all rows or, on any error, none."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.models import User
from terminals.csv_io import CsvImportError, import_locations_csv, import_terminals_csv

IMPORTERS = {"terminals": import_terminals_csv, "locations": import_locations_csv}


class Command(BaseCommand):
    help = gettext_lazy(
        "Import terminals or locations from a CSV UTF-8 file. Every row is checked first; "
        "if any row is wrong, nothing is imported and each problem is listed."
    )

    def add_arguments(self, parser):
        parser.add_argument("what", choices=sorted(IMPORTERS))
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--as",
            dest="username",
            help=gettext_lazy("Record the import under this user (default: system)."),
        )

    def handle(self, *args, what: str, file: Path, username: str | None, **options):
        actor = None
        if username:
            actor = User.objects.filter(username=username).first()
            if actor is None:
                raise CommandError(_("No user named %(name)s.") % {"name": username})
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        try:
            created = IMPORTERS[what](actor=actor, data=data)
        except CsvImportError as exc:
            for error in exc.errors:
                self.stderr.write(str(error))
            raise CommandError(
                ngettext(
                    "%(count)d problem found; nothing was imported.",
                    "%(count)d problems found; nothing was imported.",
                    len(exc.errors),
                )
                % {"count": len(exc.errors)}
            ) from exc
        if what == "locations":
            message = ngettext(
                "Imported %(count)d location.", "Imported %(count)d locations.", len(created)
            )
        else:
            message = ngettext(
                "Imported %(count)d terminal.", "Imported %(count)d terminals.", len(created)
            )
        self.stdout.write(message % {"count": len(created)})
