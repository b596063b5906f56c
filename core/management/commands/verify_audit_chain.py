from django.core.management.base import BaseCommand, CommandError

from core.audit import verify_chain


class Command(BaseCommand):
    help = (
        "Seal what is pending, then check that the audit trail is complete and unaltered: every "
        "event's hash and link, every checkpoint's signature, and every checkpoint the witness "
        "file holds against the event at its sequence number."
    )

    def handle(self, *args, **options):
        verified, broken = verify_chain()
        if broken is not None:
            raise CommandError(
                f"BROKEN at seq {broken.seq}: {broken.reason} "
                f"({verified} events verified before it).",
                returncode=1,
            )
        self.stdout.write(self.style.SUCCESS(f"OK: {verified} events verified"))
