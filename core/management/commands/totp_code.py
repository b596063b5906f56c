from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from core.otp import demo_code


class Command(BaseCommand):
    help = (
        "Print the current second-factor code of a demo user (seed_demo's security and "
        "facilities users). Refused for every other user: their codes are in their phones."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        try:
            code = demo_code(username)
        except ApplicationError as exc:
            raise CommandError(exc.message, returncode=1) from exc
        self.stdout.write(code)
