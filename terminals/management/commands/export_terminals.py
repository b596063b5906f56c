"""Write the terminal (or location) inventory as CSV UTF-8, in the importer's columns."""

from pathlib import Path

from django.core.management.base import BaseCommand
from django.utils.translation import gettext_lazy

from terminals.csv_io import export_locations_csv, export_terminals_csv
from terminals.models import Location, Terminal


class Command(BaseCommand):
    help = gettext_lazy(
        "Export every terminal as CSV UTF-8 (with --locations, every location instead); "
        "the file imports again with import_csv."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--output", type=Path, help=gettext_lazy("Write to this file (default: stdout).")
        )
        parser.add_argument(
            "--locations", action="store_true", help=gettext_lazy("Export locations.")
        )

    def handle(self, *args, output: Path | None, locations: bool, **options):
        if locations:
            chunks = export_locations_csv(Location.objects.all())
        else:
            chunks = export_terminals_csv(Terminal.objects.all())
        if output is None:
            for chunk in chunks:
                self.stdout.write(chunk, ending="")
            return
        with output.open("w", encoding="utf-8", newline="") as file:
            file.writelines(chunks)
