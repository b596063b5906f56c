"""Key rotation throughput: every stored secret re-encrypted under a new key through
`rotate_encryption_keys`' service (credentials.keys.reencrypt_under_newest_key), next to a
floor measured in the same run and process: the decryption and encryption alone, in memory.

    .venv/bin/python bench/keys.py [--secrets 200000] [--database sqlite|postgresql]
                                   [--row-at-a-time 5000]

Everything it needs is its own and gone afterwards: a temporary folder with a migrated SQLite
database, or a throwaway PostgreSQL 15 cluster (fsync off) on a free loopback port. With
DATABASE_URL set it uses that database instead and empties it before and after: it refuses a
database whose name does not contain "bench". It also times, on the first --row-at-a-time
secrets, the former way (pages by OFFSET-free `exclude` of 200 rows, one UPDATE per row) for
comparison. Exits 1 when a secret is not under the new key afterwards or does not decrypt to
what it was.
"""

import argparse
import base64
import contextlib
import datetime
import os
import platform
import secrets
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Run as a script, Python puts bench/ on the path, not the project.
sys.path.insert(0, str(REPO))
from bench.support import (  # noqa: E402
    BenchError,
    PostgresCluster,
    free_port,
    migrate_bench_database,
    run_in_own_folder,
)

DATABASE_NAME = "nwterm_bench_keys"
ACCOUNTS = 1000  # the secrets are spread over this many accounts, as versions of each
INSERT_BATCH = 5000
GOALS = {"postgresql": 10_000, "sqlite": 50_000}  # secrets/s (issue #10)


def prepare_environment(folder: Path) -> bool:
    import dj_database_url

    external = "DATABASE_URL" in os.environ
    if external:
        name = str(dj_database_url.parse(os.environ["DATABASE_URL"])["NAME"] or "")
        if "bench" not in name:
            raise BenchError(
                f"DATABASE_URL names the database {name!r}; the bench empties its database, so "
                'it only runs on one whose name contains "bench"'
            )
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        APP_ENV="development",
        DATA_DIR=str(folder),
        CREDENTIAL_KEYS=new_key("old"),
        SECRET_KEY=secrets.token_urlsafe(50),
    )
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{folder / 'bench.sqlite3'}")
    return external


def new_key(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def use_keys(spec: str) -> None:
    from django.conf import settings

    from core.crypto import reset_keyring

    settings.CREDENTIAL_KEYS = spec
    reset_keyring()


def build(count: int) -> dict[int, str]:
    """`count` secret versions under the key "old" (not measured): ACCOUNTS accounts on one
    local target, each with its versions, the newest current and the others retired. Returns
    each version's password by id, to check the run against."""
    from django.db import transaction

    from core.crypto import keyring
    from core.services import organization_create
    from credentials.models import Account, AccountState, SecretVersion, secret_context
    from credentials.targets import target_system_create
    from terminals.models import Terminal
    from terminals.services import location_create

    operator = organization_create(
        actor=None, code="bench-operator", name="Bench operator", kind="network_operator"
    )
    site = location_create(
        actor=None, code="bench-site", name="Bench site", kind="site", custodian=operator,
        secured=True,
    )  # fmt: skip
    target = target_system_create(actor=None, code="bench", name="Bench", connector="local")
    accounts = min(ACCOUNTS, count)
    with transaction.atomic():
        terminals = Terminal.objects.bulk_create(
            Terminal(asset_tag=f"BENCH-{n:05d}", location=site, custodian=operator)
            for n in range(accounts)
        )
        made = Account.objects.bulk_create(
            Account(
                target_system=target,
                terminal=terminal,
                login_id=f"nwbench{n:05d}",
                state=AccountState.LOCKED,
            )
            for n, terminal in enumerate(terminals)
        )
    ring = keyring()
    per_account = -(-count // accounts)
    rows, passwords = [], {}
    for n in range(count):
        account, version = made[n % accounts], n // accounts + 1
        password = secrets.token_urlsafe(15)
        key_id, sealed = ring.encrypt(
            password, context=secret_context(account_id=account.pk, version=version)
        )
        status = "current" if version == per_account or n + accounts >= count else "retired"
        rows.append(
            SecretVersion(
                account=account,
                version=version,
                login_id=account.login_id,
                key_id=key_id,
                ciphertext=sealed,
                status=status,
            )
        )
    for start in range(0, count, INSERT_BATCH):
        with transaction.atomic():
            for version in SecretVersion.objects.bulk_create(rows[start : start + INSERT_BATCH]):
                passwords[version.pk] = ring.decrypt(
                    version.key_id, bytes(version.ciphertext), context=version.aad_context
                )
    return passwords


def measure_floor(count: int) -> float:
    """Seconds to decrypt and encrypt `count` secrets of the same size in memory: the work no
    database layout can avoid."""
    from core.crypto import Keyring

    old_key, new_key_bytes = secrets.token_bytes(32), secrets.token_bytes(32)
    old = Keyring([("old", old_key)])
    ring = Keyring([("new", new_key_bytes), ("old", old_key)])
    contexts = [f"account={n % ACCOUNTS}|version={n // ACCOUNTS + 1}" for n in range(count)]
    sealed = [old.encrypt(secrets.token_urlsafe(15), context=c)[1] for c in contexts]
    start = time.perf_counter()
    for context, blob in zip(contexts, sealed, strict=True):
        ring.encrypt(ring.decrypt("old", blob, context=context), context=context)
    return time.perf_counter() - start


def row_at_a_time(limit_pk: int) -> tuple[float, int]:
    """The former service, as it was: pages of 200 that are not under the newest key yet, each
    row decrypted, encrypted and saved with its own UPDATE. On the rows up to `limit_pk`."""
    from django.db import transaction

    from core.crypto import keyring
    from credentials.models import SecretVersion
    from credentials.secrets import secret_encrypt, secret_plaintext

    newest = keyring().current_key_id
    done = 0
    start = time.perf_counter()
    while True:
        with transaction.atomic():
            batch = list(
                SecretVersion.objects.select_for_update(of=("self",))
                .filter(pk__lte=limit_pk)
                .exclude(key_id=newest)
                .order_by("pk")[:200]
            )
            for version in batch:
                secret_encrypt(version, secret_plaintext(version))
                version.save(update_fields=["key_id", "ciphertext"])
        done += len(batch)
        if len(batch) < 200:
            return time.perf_counter() - start, done


def verify(passwords: dict[int, str], key_id: str) -> list[str]:
    from core.crypto import keyring
    from credentials.models import SecretVersion

    ring, problems, wrong = keyring(), [], 0
    rows = SecretVersion.objects.values_list("pk", "account_id", "version", "key_id", "ciphertext")
    seen = 0
    for pk, account_id, version, row_key, blob in rows.iterator(chunk_size=10_000):
        seen += 1
        if row_key != key_id:
            wrong += 1
            continue
        context = f"account={account_id}|version={version}"
        if ring.decrypt(row_key, bytes(blob), context=context) != passwords[pk]:
            problems.append(f"secret version {pk} decrypts to another password")
    if wrong:
        problems.append(f"{wrong} secret versions are not under key {key_id}")
    if seen != len(passwords):
        problems.append(f"{seen} secret versions instead of {len(passwords)}")
    return problems[:10]


def machine_description(database: str) -> list[str]:
    import cryptography
    from django.db import connection

    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    if connection.vendor == "sqlite":
        import sqlite3

        description = f"SQLite {sqlite3.sqlite_version} (WAL, one file in a temporary folder)"
    else:
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            description = cursor.fetchone()[0].split(" on ")[0] + " (fsync off)"
    return [
        f"date:     {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"machine:  nproc {len(os.sched_getaffinity(0))}, {cpu}, "
        f"load average {os.getloadavg()[0]:.1f} at the end (other work on the machine)",
        f"software: Python {platform.python_version()}, cryptography {cryptography.__version__}",
        f"database: {description}",
    ]


def run(args, folder: Path) -> int:
    began = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if args.database == "postgresql" and "DATABASE_URL" not in os.environ:
            cluster = stack.enter_context(PostgresCluster(folder, free_port(), DATABASE_NAME))
            os.environ["DATABASE_URL"] = cluster.url
        external = prepare_environment(folder)

        import django

        django.setup()
        from django.conf import settings
        from django.db import connection

        from credentials.keys import reencrypt_under_newest_key

        migrate_bench_database(stack, external=external)
        old_spec = settings.CREDENTIAL_KEYS
        step = time.perf_counter()
        passwords = build(args.secrets)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        setup = time.perf_counter() - step
        print(f"{args.secrets} secrets set up in {setup:.1f} s", file=sys.stderr)

        floor_seconds = measure_floor(args.secrets)
        use_keys(f"{new_key('new')},{old_spec}")
        start = time.perf_counter()
        counts = reencrypt_under_newest_key()
        seconds = time.perf_counter() - start
        problems = verify(passwords, "new")
        if counts["secret_versions"] != args.secrets:
            problems.append(f"{counts['secret_versions']} re-encrypted instead of {args.secrets}")

        before = None
        if args.row_at_a_time:
            from credentials.models import SecretVersion

            limit_pk = SecretVersion.objects.order_by("pk").values_list("pk", flat=True)[
                args.row_at_a_time - 1
            ]
            use_keys(f"{new_key('newer')},{settings.CREDENTIAL_KEYS}")
            before = row_at_a_time(limit_pk)
        machine = machine_description(connection.vendor)

    rate, floor_rate = args.secrets / seconds, args.secrets / floor_seconds
    goal = GOALS["postgresql" if "postgres" in machine[3].lower() else "sqlite"]
    lines = [
        "",
        "Key rotation benchmark (rotate_encryption_keys)",
        *machine,
        "",
        f"{'':<34}{'secrets':>9}{'seconds':>10}{'secrets/s':>12}",
        f"{'reencrypt_under_newest_key':<34}{args.secrets:>9}{seconds:>10.2f}{rate:>12.0f}",
        f"{'floor: decrypt + encrypt in memory':<34}{args.secrets:>9}{floor_seconds:>10.2f}"
        f"{floor_rate:>12.0f}",
    ]
    if before is not None:
        lines.append(
            f"{'former row-at-a-time loop':<34}{before[1]:>9}{before[0]:>10.2f}"
            f"{before[1] / before[0]:>12.0f}"
        )
    lines += [
        "",
        f"ratio service / floor: {rate / floor_rate:.2f}",
        f"goal: >= {goal} secrets/s: {'met' if rate >= goal else 'NOT met'}",
        f"checked: every secret under the new key and decrypting to its password"
        f"{'' if not problems else ' (see FAILED)'}",
        f"Whole run, setup included: {time.perf_counter() - began:.0f} s",
    ]
    print("\n".join(lines))
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--secrets", type=int, default=200_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--row-at-a-time",
        type=int,
        default=5000,
        help="secrets re-encrypted the former way afterwards, for comparison (0: none)",
    )
    args = parser.parse_args()
    if args.secrets < 1 or not 0 <= args.row_at_a_time <= args.secrets:
        parser.error("--secrets must be at least 1, --row-at-a-time 0 to --secrets")
    return run_in_own_folder("nwterm-bench-keys-", lambda folder: run(args, folder))


if __name__ == "__main__":
    sys.exit(main())
