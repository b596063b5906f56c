"""Key rotation: CREDENTIAL_KEYS names several keys, newest first, and every one decrypts; this
moves every stored secret under the newest key (the rotate_encryption_keys command), after which
the older keys can be dropped."""

from django.db import connection, transaction

from core.crypto import keyring
from core.otp import authenticators_reencrypt
from credentials.models import SecretVersion, TargetSystem, secret_context
from credentials.secrets import bind_password_encrypt, bind_password_plaintext

PAGE_SIZE = 2000


def reencrypt_under_newest_key(*, batch_size: int = PAGE_SIZE) -> dict[str, int]:
    """Re-encrypt every secret not under the newest key (LDAP bind passwords and the
    authenticators' keys too), a page at a time in its own short transaction, so that an
    interrupted run simply continues when run again. Pages follow the primary key (keyset:
    each starts after the last one's highest id, never with an OFFSET), and each page is
    written back in one statement."""
    ring = keyring()
    newest = ring.current_key_id
    counts = {"secret_versions": 0, "target_systems": 0}
    after = 0
    while True:
        with transaction.atomic():
            page = list(
                SecretVersion.objects.select_for_update(of=("self",))
                .filter(pk__gt=after)
                .exclude(key_id=newest)
                .order_by("pk")
                .values_list("pk", "account_id", "version", "key_id", "ciphertext")[:batch_size]
            )
            if not page:
                break
            rows = []
            for pk, account_id, version, key_id, ciphertext in page:
                context = secret_context(account_id=account_id, version=version)
                plaintext = ring.decrypt(key_id, bytes(ciphertext), context=context)
                _key_id, sealed = ring.encrypt(plaintext, context=context)
                rows.append((pk, sealed))
            _write_page(newest, rows)
        counts["secret_versions"] += len(page)
        after = page[-1][0]
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
    counts["authenticators"] = authenticators_reencrypt()
    return counts


def _write_page(key_id: str, rows: list[tuple[int, bytes]]) -> None:
    """One UPDATE for the page: every row gets the key id, each its own ciphertext."""
    table = connection.ops.quote_name(SecretVersion._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} AS s SET key_id = %s, ciphertext = v.ciphertext "  # noqa: S608
                "FROM unnest(%s::bigint[], %s::bytea[]) AS v(id, ciphertext) WHERE s.id = v.id",
                [key_id, [pk for pk, _ in rows], [sealed for _, sealed in rows]],
            )
        else:
            cursor.executemany(
                f"UPDATE {table} SET key_id = %s, ciphertext = %s WHERE id = %s",  # noqa: S608
                [(key_id, sealed, pk) for pk, sealed in rows],
            )
