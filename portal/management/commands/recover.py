"""Run every sweeper once: what the scheduler does every minute, at once and in the foreground.
After a crash (a killed web process or worker, a broker that was down) this finishes or
compensates every multi-step action the crash left half done, and says what it did."""

from collections.abc import Callable

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.queue import outbox_resend
from credentials.accounts import retired_accounts_delete_pending
from credentials.rotation import rotation_resend_stale
from lending.services import returned_terminals_settle, stuck_checkouts_recover


class Command(BaseCommand):
    help = (
        "Run every sweeper once and print what each did, one line each: resend the rotations "
        "left unsent, abandon the check-outs a dead process left half done (rotating their "
        "accounts), delete the accounts of retired terminals still on their targets, send the "
        "request emails the broker missed, and store "
        "returned terminals whose rotation finished."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--stuck-after",
            type=int,
            metavar="SECONDS",
            help="a check-out unfinished for this long is abandoned "
            f"(default CHECKOUT_STUCK_SECONDS, {settings.CHECKOUT_STUCK_SECONDS})",
        )
        parser.add_argument(
            "--resend-after",
            type=int,
            metavar="SECONDS",
            help="a rotation requested or sent this long ago is sent again "
            f"(default ROTATION_RESEND_AFTER_SECONDS, {settings.ROTATION_RESEND_AFTER_SECONDS})",
        )

    def handle(self, *args, stuck_after=None, resend_after=None, **options):
        for option, value in (("--stuck-after", stuck_after), ("--resend-after", resend_after)):
            if value is not None and value < 0:
                raise CommandError(f"{option} must be 0 or more seconds.")
        # In dependency order: abandoning a check-out requests rotations, which the resend
        # step does not touch until they are stale; settling follows the rotations that ran.
        sweepers: list[tuple[str, Callable[[], int]]] = [
            (
                "stuck check-outs abandoned",
                lambda: stuck_checkouts_recover(older_than_seconds=stuck_after),
            ),
            (
                "stale rotations resent",
                lambda: rotation_resend_stale(older_than_seconds=resend_after),
            ),
            ("retired terminals' accounts deleted", retired_accounts_delete_pending),
            (
                "outbox tasks resent",
                lambda: outbox_resend(older_than_seconds=resend_after or 0),
            ),
            ("returned terminals settled", returned_terminals_settle),
        ]
        failed = []
        for label, sweep in sweepers:
            try:
                count = sweep()
            except Exception as exc:  # the other sweepers still run; the exit code says it
                failed.append(label)
                self.stderr.write(f"{label}: FAILED ({type(exc).__name__}: {exc})")
                continue
            self.stdout.write(f"{label}: {count}")
        if failed:
            raise CommandError(
                f"{len(failed)} sweeper(s) failed: {', '.join(failed)}", returncode=1
            )
