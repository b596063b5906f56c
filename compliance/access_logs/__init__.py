"""Access logs (アクセスログ): reading target systems' sign-in logs into SignInEvent rows.

`parsers` reads the three formats line by line (no Django models); `ingestion` records each
ingestion, stores its sign-ins in batches and sweeps up what a broker or a worker left behind."""

from compliance.access_logs.ingestion import (
    access_log_ingestion_create,
    access_log_ingestion_fail,
    access_log_ingestion_run,
    access_log_ingestions_resend,
    access_log_mapping_update,
    mapping_of,
    mapping_spec,
)
from compliance.access_logs.parsers import FileRefused, normalise_login_id

__all__ = [
    "FileRefused",
    "access_log_ingestion_create",
    "access_log_ingestion_fail",
    "access_log_ingestion_run",
    "access_log_ingestions_resend",
    "access_log_mapping_update",
    "mapping_of",
    "mapping_spec",
    "normalise_login_id",
]
