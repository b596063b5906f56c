"""Key rotation: CREDENTIAL_KEYS names several keys, newest first, and every one decrypts; this
moves every stored secret under the newest key (the rotate_encryption_keys command), after which
the older keys can be dropped."""

from django.db import transaction

from credentials.models import SecretVersion, TargetSystem
from credentials.secrets import (
    bind_password_encrypt,
    bind_password_plaintext,
    keyring,
    secret_encrypt,
    secret_plaintext,
)


def reencrypt_under_newest_key(*, batch_size: int = 200) -> dict[str, int]:
    """Re-encrypt every secret (and LDAP bind password) not under the newest key, in small
    transactions, so that an interrupted run simply continues when run again."""
    newest = keyring().current_key_id
    counts = {"secret_versions": 0, "target_systems": 0}
    while True:
        with transaction.atomic():
            batch = list(
                SecretVersion.objects.select_for_update(of=("self",))
                .exclude(key_id=newest)
                .order_by("pk")[:batch_size]
            )
            for version in batch:
                secret_encrypt(version, secret_plaintext(version))
                version.save(update_fields=["key_id", "ciphertext"])
        counts["secret_versions"] += len(batch)
        if len(batch) < batch_size:
            break
    with transaction.atomic():
        targets = (
            TargetSystem.objects.select_for_update(of=("self",))
            .exclude(ldap_bind_password_ciphertext=None)
            .exclude(ldap_bind_password_key_id=newest)
        )
        for target in targets:
            bind_password_encrypt(target, bind_password_plaintext(target))
            target.save(
                update_fields=["ldap_bind_password_key_id", "ldap_bind_password_ciphertext"]
            )
            counts["target_systems"] += 1
    return counts
