"""Settings, all from environment variables with safe defaults. See .env.example."""

import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from config.env import (
    development_key,
    development_secret,
    envbool,
    envint,
    envlist,
    envsecret,
    envstr,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(envstr("DATA_DIR", str(BASE_DIR / "data"))).resolve()

# APP_ENV=production turns on the deploy checks' settings and refuses missing secrets.
APP_ENV = envstr("APP_ENV", "development")
if APP_ENV not in {"development", "production"}:
    raise ImproperlyConfigured("APP_ENV must be 'development' or 'production'")
PRODUCTION = APP_ENV == "production"

DEBUG = envbool("DEBUG", False)

SECRET_KEY = envsecret("SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set in production")
    SECRET_KEY = development_secret(DATA_DIR, "secret_key.txt")

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # The second factor of security and facilities staff: a TOTP authenticator (core's own
    # device, its key encrypted) and recovery codes as static tokens; core.otp, core.middleware.
    "django_otp",
    "django_otp.plugins.otp_static",
    "core",
    "terminals",
    "credentials",
    "lending",
    "compliance",
    "portal",
]

MIDDLEWARE = [
    # First: every log line of the request, whoever answers it, has its id (and its user once
    # the authentication middleware has loaded one).
    "core.logging_json.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A database or broker that cannot be reached answers 503, never 500 (outside the session).
    "core.outage.OutageMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # NUL characters in the address, an oversized body: 400/413 in the reader's language.
    "core.input_limits.InputLimitsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After authentication and messages: ends idle and too-old sessions, then holds a security or
    # facilities session that has not passed its second factor at the TOTP step (pages and API
    # alike). Read from the session alone: no query added to a request (django-otp's own
    # OTPMiddleware would load the device on every one).
    "core.middleware.SessionLifetimeMiddleware",
    "core.middleware.SecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Content-Security-Policy on every answer (django-csp; Django has its own only from 6.0).
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "core.context_processors.roles",
                "core.context_processors.language_return",
                "core.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        # Empty (`DATABASE_URL=` left in an environment file) is the embedded default too.
        envstr("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'db.sqlite3'}",
        conn_max_age=60,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one SQLite file: WAL lets readers run beside the writer,
    # IMMEDIATE takes the write lock at BEGIN (no deadlock on lock upgrade), and the busy
    # timeout makes the second writer wait instead of failing with "database is locked".
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory: tests that run a real worker share the test database with it.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-db-{os.getpid()}.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A PostgreSQL that is down answers a 503 within seconds (core.outage), not after the
    # system's TCP time-out; a connect_timeout in DATABASE_URL's query wins.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", envint("DATABASE_CONNECT_TIMEOUT_SECONDS", 5)
    )
    # Prepared statements: psycopg prepares a statement its connection has run five times, and
    # PostgreSQL stops planning it again (planning was two thirds of its CPU on the lending
    # bench). Off behind a pooler in transaction mode, which cannot keep them (README).
    if envbool("DATABASE_PREPARED_STATEMENTS", True):
        DATABASES["default"]["OPTIONS"].setdefault("server_side_binding", True)
        DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "core.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", _("Japanese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["config.formats"]
TIME_ZONE = envstr("TIME_ZONE", "Asia/Tokyo")
USE_I18N = True
USE_TZ = True

MEDIA_URL = "media/"
MEDIA_ROOT = DATA_DIR / "media"  # discrepancy evidence; served only through a permission check
STATIC_URL = "static/"
# Where collectstatic puts the files; nginx serves them from there (deploy/nginx/nwterm.conf).
STATIC_ROOT = Path(envstr("STATIC_ROOT", str(DATA_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Input limits (core.input_limits), each refused with a message: a whole request's body
# (uploads included: an access log can be large), the body outside files and the number of
# its fields (Django's own), a file kept in memory before it goes to a temporary file, JSON
# nesting, and the rows of a CSV import.
REQUEST_MAX_BYTES = envint("REQUEST_MAX_BYTES", 256 * 2**20)
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("DATA_UPLOAD_MAX_MEMORY_SIZE", 5 * 2**20)
DATA_UPLOAD_MAX_NUMBER_FIELDS = envint("DATA_UPLOAD_MAX_NUMBER_FIELDS", 2000)
FILE_UPLOAD_MAX_MEMORY_SIZE = envint("FILE_UPLOAD_MAX_MEMORY_SIZE", 5 * 2**20)
JSON_MAX_DEPTH = envint("JSON_MAX_DEPTH", 32)
TEXT_INPUT_MAX_LENGTH = envint("TEXT_INPUT_MAX_LENGTH", 5000)  # an API's free-text field
CSV_IMPORT_MAX_ROWS = envint("CSV_IMPORT_MAX_ROWS", 20000)
# An access-log file uploaded (a page or the API); the other uploads have their own limits in
# code (a CSV import 5 MB, a contractor's report 10 MB, evidence 20 MB).
ACCESS_LOG_UPLOAD_MAX_BYTES = envint("ACCESS_LOG_UPLOAD_MAX_BYTES", 200 * 2**20)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.api.permissions.RolePermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # JSON with a depth limit and no NUL characters (core.input_limits); forms and files as usual.
    "DEFAULT_PARSER_CLASSES": [
        "core.input_limits.LimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "NW-setting terminal and credential lifecycle API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Every operation documents the errors it can answer (400, 401, 403, 404, 409, 410, 429...).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.document_error_responses",
    ],
    # Several models have a `kind` or `status`; one named enum per choice set in the schema.
    "ENUM_NAME_OVERRIDES": {
        "OrganizationKindEnum": "core.models.OrganizationKind",
        "LocationKindEnum": "terminals.models.LocationKind",
        "TerminalStatusEnum": "terminals.models.TerminalStatus",
        "AccessCardKindEnum": "terminals.models.AccessCardKind",
        "AccessCardStatusEnum": "terminals.models.AccessCardStatus",
        "ConnectorEnum": "credentials.models.ConnectorKind",
        "AccountStateEnum": "credentials.models.AccountState",
        "RotationStatusEnum": "credentials.models.RotationStatus",
        "RotationReasonEnum": "credentials.models.RotationReason",
        "DeclarationStatusEnum": "lending.models.DeclarationStatus",
        "RequestStatusEnum": "lending.models.RequestStatus",
        "LoanStatusEnum": "lending.models.LoanStatus",
        "ReturnConditionEnum": "lending.models.ReturnCondition",
        "StockTakeStatusEnum": "compliance.models.StockTakeStatus",
        "StockTakeReasonEnum": "compliance.models.StockTakeReason",
        "ScanResultEnum": "compliance.models.ScanResult",
        "DiscrepancyKindEnum": "compliance.models.DiscrepancyKind",
        "DiscrepancyStatusEnum": "compliance.models.DiscrepancyStatus",
        "DiscrepancyOutcomeEnum": "compliance.models.DiscrepancyOutcome",
        "AuditReportStatusEnum": "compliance.models.AuditReportStatus",
        "SignInResultEnum": "compliance.models.SignInResult",
        "IngestionStatusEnum": "compliance.models.IngestionStatus",
        "AccessLogFormatEnum": "compliance.models.AccessLogFormat",
        "IngestionSourceEnum": "compliance.models.IngestionSource",
    },
}

# The cache holds the sign-in failure counts, lockouts and rate limits (and DRF's throttles), so
# it must be shared by every web process: Redis when REDIS_URL is set, otherwise files in the
# data folder (one machine). Never the per-process local-memory cache.
if envstr("REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": envstr("REDIS_URL"),
            "KEY_PREFIX": "nwterm",
            # A Redis that is down fails a cache call within a second instead of hanging it.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }

# Celery: Redis when REDIS_URL is set; otherwise a filesystem broker in the data folder, so a
# real worker and beat run with no server at all.
REDIS_URL = envstr("REDIS_URL")
CELERY_DATA_DIR = DATA_DIR / "celery"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    # A message not acknowledged within this time is redelivered; results use the same value.
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, int | str] = {
        "visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", 3600),
        # A Redis that is down, or that accepts a connection and never answers, fails a publish
        # within seconds (kombu waits forever by default); the socket timeout must stay above
        # the worker's 1 s BRPOP.
        "socket_connect_timeout": envint("BROKER_CONNECT_TIMEOUT_SECONDS", 2),
        "socket_timeout": envint("BROKER_SOCKET_TIMEOUT_SECONDS", 5),
    }
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = CELERY_BROKER_TRANSPORT_OPTIONS
    CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = envint("BROKER_CONNECT_TIMEOUT_SECONDS", 2)
    CELERY_REDIS_SOCKET_TIMEOUT = envint("BROKER_SOCKET_TIMEOUT_SECONDS", 5)
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_DATA_DIR / "queue"),
        "data_folder_out": str(CELERY_DATA_DIR / "queue"),
        "control_folder": str(CELERY_DATA_DIR / "control"),
    }
    CELERY_RESULT_BACKEND = f"file://{CELERY_DATA_DIR / 'results'}"
CELERY_TIMEZONE = TIME_ZONE
# Publishing to a broker that is down gives up within seconds instead of hanging the request:
# the database row, not the message, is the record (see credentials.rotation).
CELERY_BROKER_CONNECTION_TIMEOUT = envint("BROKER_CONNECT_TIMEOUT_SECONDS", 2)
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": envint("BROKER_PUBLISH_RETRIES", 1),
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_BEAT_SCHEDULE_FILENAME = str(CELERY_DATA_DIR / "beat-schedule")
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", False)
# Celery closes a worker's database connections around every task unless this is set; with it,
# every 2 x 1,000 tasks (config.celery closes one that broke or outlived CONN_MAX_AGE at once).
CELERY_DB_REUSE_MAX = envint("CELERY_DB_REUSE_MAX", 1000)

# Periodic work, declared in one place.
# How often beat verifies the whole audit chain for the audit-trail page; the page warns when
# its last check is older than three times this.
AUDIT_CHECK_SECONDS = envint("AUDIT_CHECK_SECONDS", 300)
CELERY_BEAT_SCHEDULE = {
    "resend-stale-rotations": {
        "task": "credentials.tasks.resend_stale_rotations",
        "schedule": envint("ROTATION_SWEEP_SECONDS", 60),
    },
    # Sends the tasks (request emails) whose sending after their commit failed (core.queue).
    "resend-outbox": {
        "task": "core.tasks.resend_outbox",
        "schedule": envint("OUTBOX_SWEEP_SECONDS", 60),
    },
    "rotate-aged-secrets": {
        "task": "credentials.tasks.rotate_aged_secrets",
        "schedule": envint("AGED_SECRET_CHECK_SECONDS", 3600),
    },
    # Abandons the check-outs a dead process left `checking_out` (lending.services).
    "recover-stuck-checkouts": {
        "task": "lending.tasks.recover_stuck_checkouts",
        "schedule": envint("CHECKOUT_SWEEP_SECONDS", 60),
    },
    # Deletes on their targets the accounts of retired terminals a lost message left behind.
    "delete-accounts-of-retired-terminals": {
        "task": "credentials.tasks.delete_accounts_of_retired_terminals",
        "schedule": envint("RETIRED_ACCOUNTS_SWEEP_SECONDS", 60),
    },
    "settle-returned-terminals": {
        "task": "lending.tasks.settle_returned_terminals",
        "schedule": envint("SETTLE_RETURNS_SECONDS", 30),
    },
    # Ends time-boxed arrangements whose hard end passed; locks and deletes their accounts.
    "end-due-arrangements": {
        "task": "lending.tasks.end_due_arrangements",
        "schedule": envint("ARRANGEMENT_SWEEP_SECONDS", 300),
    },
    "notify-loans-due-soon": {
        "task": "lending.tasks.notify_loans_due_soon",
        "schedule": envint("DUE_SOON_CHECK_SECONDS", 900),
    },
    "open-due-stocktakes": {
        "task": "compliance.tasks.open_due_stocktakes",
        "schedule": crontab(hour=envint("STOCKTAKE_OPEN_HOUR", 6), minute=0),
    },
    "run-policy-checks": {
        "task": "compliance.tasks.run_policy_checks",
        "schedule": crontab(hour=envint("POLICY_CHECK_HOUR", 5), minute=30),
    },
    # Judges the sign-ins stored since the last run (compliance.access_log_rules).
    "analyse-access-logs": {
        "task": "compliance.tasks.analyse_access_logs",
        "schedule": envint("ACCESS_LOG_ANALYSIS_SECONDS", 300),
    },
    # Sends again the access-log ingestions a down broker or a dead worker left behind.
    "resend-stale-access-log-ingestions": {
        "task": "compliance.tasks.resend_stale_access_log_ingestions",
        "schedule": envint("ACCESS_LOG_SWEEP_SECONDS", 60),
    },
    # Sends again the internal audit reports a down broker or a dead worker left PRODUCING.
    "resend-stale-audit-reports": {
        "task": "compliance.tasks.resend_stale_audit_reports",
        "schedule": envint("AUDIT_REPORT_SWEEP_SECONDS", 60),
    },
    "send-stocktake-reminders": {
        "task": "compliance.tasks.send_stocktake_reminders",
        "schedule": crontab(hour=envint("STOCKTAKE_REMINDER_HOUR", 8), minute=0),
    },
    "notify-overdue-loans": {
        "task": "lending.tasks.notify_overdue_loans",
        "schedule": crontab(hour=envint("OVERDUE_NOTICE_HOUR", 9), minute=0),
    },
    # Contractor supervision: one summary of the reports and trainings expiring soon.
    "send-supervision-reminders": {
        "task": "lending.tasks.send_supervision_reminders",
        "schedule": crontab(hour=envint("SUPERVISION_REMINDER_HOUR", 8), minute=30),
    },
    # Seals the audit events committed since the last run, writes the checkpoints that are due
    # and retries the witnesses that failed. A missed run is not worth running late.
    # /health/ reads the time of the last one; a heartbeat not taken in time is not worth sending.
    "worker-heartbeat": {
        "task": "core.tasks.worker_heartbeat",
        "schedule": envint("WORKER_HEARTBEAT_SECONDS", 30),
        "options": {"expires": envint("WORKER_HEARTBEAT_SECONDS", 30)},
    },
    "seal-audit-trail": {
        "task": "core.tasks.seal_audit_trail",
        "schedule": envint("AUDIT_SEAL_SECONDS", 1),
        "options": {"expires": max(envint("AUDIT_SEAL_SECONDS", 1) * 5, 5)},
    },
    # The whole chain verified and the outcome kept for the audit-trail page; a run missed
    # is replaced by the next one.
    "check-audit-chain": {
        "task": "core.tasks.check_audit_chain",
        "schedule": AUDIT_CHECK_SECONDS,
        "options": {"expires": AUDIT_CHECK_SECONDS},
    },
}
# Stock-takes: days from opening to due, and how long before the due date the reminder goes.
STOCKTAKE_DUE_DAYS = envint("STOCKTAKE_DUE_DAYS", 7)
STOCKTAKE_REMINDER_DAYS = envint("STOCKTAKE_REMINDER_DAYS", 2)
# Lending rules.
LENDING_GRACE_HOURS = envint("LENDING_GRACE_HOURS", 24)
LENDING_SEPARATION_OF_DUTIES = envbool("LENDING_SEPARATION_OF_DUTIES", True)
LENDING_MAX_QUANTITY = envint("LENDING_MAX_QUANTITY", 20)
LENDING_DUE_SOON_HOURS = envint("LENDING_DUE_SOON_HOURS", 6)
# A check-out still being handed out after this long was interrupted (its process died): the
# sweeper abandons it and rotates every account of its terminal. Far longer than a check-out
# takes (unlocking a few accounts), so that one still running is never taken for dead.
CHECKOUT_STUCK_SECONDS = envint("CHECKOUT_STUCK_SECONDS", 120)
# Time-boxed arrangements: their longest period, and the days after the end until the accounts
# used only for one are deleted on their targets (they are locked at once).
ARRANGEMENT_MAX_DAYS = envint("ARRANGEMENT_MAX_DAYS", 365)
ARRANGEMENT_ACCOUNT_GRACE_DAYS = envint("ARRANGEMENT_ACCOUNT_GRACE_DAYS", 7)
# Contractor supervision: the reminder goes this many days before a report or training expires;
# a security officer's exception to the supervision rules lasts at most this many hours.
SUPERVISION_REMINDER_DAYS = envint("SUPERVISION_REMINDER_DAYS", 30)
SUPERVISION_EXCEPTION_MAX_HOURS = envint("SUPERVISION_EXCEPTION_MAX_HOURS", 72)
# Access-log analysis: this many failed sign-ins for one login ID within the window is a burst.
ACCESS_LOG_FAILURE_BURST_THRESHOLD = envint("ACCESS_LOG_FAILURE_BURST_THRESHOLD", 5)
ACCESS_LOG_FAILURE_BURST_SECONDS = envint("ACCESS_LOG_FAILURE_BURST_SECONDS", 600)
# Access-log ingestion: lines stored per batch; a queued ingestion is sent again after this long,
# a running one whose progress stopped for this long is read again from its start.
ACCESS_LOG_BATCH_LINES = envint("ACCESS_LOG_BATCH_LINES", 5000)
ACCESS_LOG_RESEND_AFTER_SECONDS = envint("ACCESS_LOG_RESEND_AFTER_SECONDS", 60)
ACCESS_LOG_STALL_SECONDS = envint("ACCESS_LOG_STALL_SECONDS", 300)
# Internal audit reports: one still being produced after this long is sent to a worker again.
AUDIT_REPORT_RESEND_AFTER_SECONDS = envint("AUDIT_REPORT_RESEND_AFTER_SECONDS", 300)

# Credential encryption keys: "id:base64,id:base64", newest first (it encrypts; all decrypt).
CREDENTIAL_KEYS = envsecret("CREDENTIAL_KEYS")
if not CREDENTIAL_KEYS:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "CREDENTIAL_KEYS (or CREDENTIAL_KEYS_FILE) must be set in production"
        )
    CREDENTIAL_KEYS = development_secret(DATA_DIR, "credential_keys.txt", key_spec=True)
ROTATION_MAX_RETRIES = envint("ROTATION_MAX_RETRIES", 5)
ROTATION_RETRY_BASE_DELAY_SECONDS = envint("ROTATION_RETRY_BASE_DELAY_SECONDS", 10)
ROTATION_RETRY_MAX_DELAY_SECONDS = envint("ROTATION_RETRY_MAX_DELAY_SECONDS", 600)
ROTATION_RESEND_AFTER_SECONDS = envint("ROTATION_RESEND_AFTER_SECONDS", 300)
# A worker that takes up one rotation also takes up to this many others still waiting for their
# own message (a burst of returns rotates in batches); 0 turns it off. Each stays in its hands
# as long as a message sent is left alone by the sweeper.
ROTATION_COALESCE = envint("ROTATION_COALESCE", 49)

# The audit trail (core.audit). Events are written unsealed in the caller's transaction; the
# sealer chains them, on SQLite as on PostgreSQL (sealing in the writer's transaction, which
# SQLite once did, cost each writer two statements more: bench/audit.py, 4,057 events/s against
# 6,111 with the sealer).
AUDIT_SEAL_BATCH = envint("AUDIT_SEAL_BATCH", 1000)  # events per sealing transaction
AUDIT_SEAL_LEASE_SECONDS = envint("AUDIT_SEAL_LEASE_SECONDS", 30)
# After a gap in the ids (a transaction still open, or rolled back) the sealer waits until no
# transaction that may hold the missing id is open, or until the event after it is this old.
AUDIT_SEAL_GRACE_SECONDS = envint("AUDIT_SEAL_GRACE_SECONDS", 30)
# How long one sealing run may wait for open transactions to end at such a gap.
AUDIT_SEAL_WAIT_MS = envint("AUDIT_SEAL_WAIT_MS", 500)
AUDIT_UNSEALED_ALERT_SECONDS = envint("AUDIT_UNSEALED_ALERT_SECONDS", 60)
AUDIT_CHECKPOINT_EVENTS = envint("AUDIT_CHECKPOINT_EVENTS", 1000)
AUDIT_CHECKPOINT_SECONDS = envint("AUDIT_CHECKPOINT_SECONDS", 300)
# Ed25519 private key that signs the checkpoints: base64 of its 32 raw bytes, or PEM. Never in
# the database; generated in the data folder in development only: a production key lives with
# the other secrets, away from whoever can write the database.
AUDIT_SIGNING_KEY = envsecret("AUDIT_SIGNING_KEY")
if not AUDIT_SIGNING_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "AUDIT_SIGNING_KEY (or AUDIT_SIGNING_KEY_FILE) must be set in production"
        )
    AUDIT_SIGNING_KEY = development_key(DATA_DIR, "audit_signing_key.txt")
# Public keys (base64 raw 32 bytes, comma-separated) of former signing keys, for verification.
AUDIT_VERIFY_KEYS = envlist("AUDIT_VERIFY_KEYS")
# Witnesses outside the database for every checkpoint: a file (one JSON line each; empty to
# turn it off), syslog (host:port or a socket path such as /dev/log) and an HTTP endpoint (POST).
AUDIT_WITNESS_FILE = envstr("AUDIT_WITNESS_FILE", str(DATA_DIR / "audit_witness.jsonl"))
AUDIT_WITNESS_SYSLOG = envstr("AUDIT_WITNESS_SYSLOG")
AUDIT_WITNESS_URL = envstr("AUDIT_WITNESS_URL")

EMAIL_BACKEND = envstr("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "nwterm@localhost")
# A mail server that does not answer fails a send within this long (Django waits for ever).
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT_SECONDS", 10)

# LOG_FORMAT=json: one JSON object a line (time, level, logger, message, request id, user) for a
# log collector on several machines; text (the default) for the embedded setup. LOG_FILE adds a
# file in the same format. A JSON line holds only those fields: never a record's other
# attributes (a request's body, a form's data), so a secret reaches a log only if a message
# itself names it, and none does (tests/ops/test_json_logs.py greps a run for its secrets).
LOG_FORMAT = envstr("LOG_FORMAT", "text")
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured("LOG_FORMAT must be 'text' or 'json'")
LOG_FILE = envstr("LOG_FILE")
_log_handlers: dict[str, dict[str, object]] = {
    "console": {
        "class": "logging.StreamHandler",
        "formatter": LOG_FORMAT,
        "filters": ["context"],
    }
}
if LOG_FILE:
    _log_handlers["file"] = {
        "class": "logging.handlers.WatchedFileHandler",
        "filename": LOG_FILE,
        "formatter": LOG_FORMAT,
        "filters": ["context"],
    }
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "refusals": {"()": "core.log_filters.RefusalWithoutTraceback"},
        "context": {"()": "core.logging_json.RequestContext"},
    },
    "formatters": {
        "text": {"format": "%(message)s"},
        "json": {"()": "core.logging_json.JsonFormatter"},
    },
    "handlers": _log_handlers,
    "loggers": {"django.request": {"filters": ["refusals"]}},
    "root": {"handlers": list(_log_handlers), "level": envstr("LOG_LEVEL", "INFO")},
}

# Operations: /health/ for load balancers, /metrics for Prometheus (core.health, core.metrics).
# A worker writes its heartbeat every WORKER_HEARTBEAT_SECONDS; older than
# HEALTH_HEARTBEAT_MAX_AGE_SECONDS, /health/ answers 503.
WORKER_HEARTBEAT_SECONDS = envint("WORKER_HEARTBEAT_SECONDS", 30)
HEALTH_HEARTBEAT_MAX_AGE_SECONDS = envint("HEALTH_HEARTBEAT_MAX_AGE_SECONDS", 180)
# /metrics answers these client addresses (REMOTE_ADDR: the proxy's own address when behind
# nginx on another machine, so list it), or any client with "Authorization: Bearer METRICS_TOKEN".
METRICS_ALLOWED_IPS = envlist("METRICS_ALLOWED_IPS", "127.0.0.1,::1")
METRICS_TOKEN = envsecret("METRICS_TOKEN")
# The one scheduler: `celery beat -S core.scheduler:LeasedScheduler` sends due tasks only while
# it holds this database lease; a second beat waits and takes over when the holder stops renewing.
SCHEDULER_LEASE_SECONDS = envint("SCHEDULER_LEASE_SECONDS", 30)
CELERY_BEAT_SCHEDULER = "core.scheduler:LeasedScheduler"

SESSION_COOKIE_HTTPONLY = True
# Sign-in hardening (core.middleware, core.lockout, core.ratelimit, core.otp). A session ends
# after SESSION_IDLE_SECONDS unused and SESSION_COOKIE_AGE after its sign-in, used or not.
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", 12 * 3600)
SESSION_IDLE_SECONDS = envint("SESSION_IDLE_SECONDS", 30 * 60)
# Failed sign-ins (password, second factor, API token endpoint) within the window, counted per
# username and per client address in the shared cache; reaching either limit refuses that
# username or address for LOGIN_LOCKOUT_SECONDS, whatever the password.
LOGIN_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", 5)
LOGIN_FAILURE_LIMIT_PER_ADDRESS = envint("LOGIN_FAILURE_LIMIT_PER_ADDRESS", 20)
LOGIN_FAILURE_WINDOW_SECONDS = envint("LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60)
LOGIN_LOCKOUT_SECONDS = envint("LOGIN_LOCKOUT_SECONDS", 15 * 60)
# The client address: REMOTE_ADDR unless a proxy in front is trusted to set this header (e.g.
# "X-Forwarded-For"); then the TRUSTED_PROXY_COUNT-th address from the right, the one our own
# proxy appended. Whatever a client sends in that header to the left is never believed.
TRUSTED_PROXY_HEADER = envstr("TRUSTED_PROXY_HEADER")
TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", 1)
# Rate limits, "<count>/<second|minute|hour|day>", per user and per client address: the API
# token endpoint, the contractor's request form (POST) and the reveals (POST).
RATE_LIMIT_TOKEN = envstr("RATE_LIMIT_TOKEN", "10/minute")
RATE_LIMIT_REQUEST_FORM = envstr("RATE_LIMIT_REQUEST_FORM", "20/hour")
RATE_LIMIT_REVEAL = envstr("RATE_LIMIT_REVEAL", "10/hour")
# API tokens expire this many days after they are issued.
API_TOKEN_DAYS = envint("API_TOKEN_DAYS", 90)
# The issuer shown in authenticator apps next to the username.
OTP_TOTP_ISSUER = envstr("OTP_TOTP_ISSUER", "NW-terminals")
# django-otp's own per-device delay after a wrong code is off: core.lockout counts wrong codes
# with the wrong passwords, in the shared cache, and says when to try again.
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp 4): scripts and styles only from our own static files, no
# inline script or style anywhere (templates load static/js and static/css); images may be
# data: URIs (Swagger UI's icons). The API docs page loosens style-src for itself (config.urls).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
if PRODUCTION:
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Load balancers and Prometheus ask the web process directly over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
