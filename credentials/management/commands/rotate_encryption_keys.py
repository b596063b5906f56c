from django.core.management.base import BaseCommand, CommandError

from core.crypto import DecryptionError, keyring
from credentials.keys import reencrypt_under_newest_key


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret under the newest key of CREDENTIAL_KEYS. "
        "Safe to interrupt and run again: it continues with what is left."
    )

    def handle(self, *args, **options):
        try:
            counts = reencrypt_under_newest_key()
        except DecryptionError as exc:
            raise CommandError(
                f"a secret could not be decrypted with the configured keys: {exc}"
            ) from exc
        self.stdout.write(
            f"Re-encrypted under key {keyring().current_key_id}: "
            f"{counts['secret_versions']} secret versions, "
            f"{counts['target_systems']} LDAP bind passwords, "
            f"{counts['authenticators']} authenticator keys."
        )
