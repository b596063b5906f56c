import secrets
import sys

from django.core.management.base import BaseCommand, CommandError

from core.errors import InvalidInput
from core.models import Organization, User
from core.roles import Role
from core.services import user_create


class Command(BaseCommand):
    help = (
        "Create a user in one role. The password is read from standard input when it is piped in; "
        "otherwise a random one is generated and printed once."
    )
    # Tests hand in their own stdin, as Django's createsuperuser allows.
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--organization", metavar="CODE", help="code of the user's company")
        parser.add_argument("--email", default="")

    def handle(self, *args, username, role, organization, email, **options):
        if User.objects.filter(username=username).exists():
            raise CommandError(f"A user named {username!r} already exists.")
        org = None
        if organization:
            org = Organization.objects.filter(code=organization).first()
            if org is None:
                known = ", ".join(Organization.objects.values_list("code", flat=True)) or "none"
                raise CommandError(f"Unknown organization {organization!r} (known: {known}).")

        # A closed standard input (as under some schedulers) counts as empty.
        stdin = options.get("stdin") or sys.stdin
        password = "" if stdin is None or stdin.isatty() else stdin.read().strip("\r\n")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(16)

        try:
            user_create(
                actor=None,
                username=username,
                role=role,
                password=password,
                organization=org,
                email=email,
            )
        except InvalidInput as exc:
            details = "; ".join(
                f"{field}: {' '.join(str(m) for m in messages)}"
                for field, messages in exc.field_errors.items()
            )
            raise CommandError(f"{exc.message} {details}") from exc

        self.stdout.write(self.style.SUCCESS(f"Created {username} ({role})."))
        if generated:
            self.stdout.write(f"Password (shown once): {password}")
