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
    "core",
    "terminals",
    "credentials",
    "lending",
    "compliance",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
        envstr("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}"), conn_max_age=60
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
STATIC_ROOT = DATA_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

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
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "NW-setting terminal and credential lifecycle API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
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

# Celery: Redis when REDIS_URL is set; otherwise a filesystem broker in the data folder, so a
# real worker and beat run with no server at all.
REDIS_URL = envstr("REDIS_URL")
CELERY_DATA_DIR = DATA_DIR / "celery"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    # A message not acknowledged within this time is redelivered; results use the same value.
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, int | str] = {
        "visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", 3600)
    }
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = CELERY_BROKER_TRANSPORT_OPTIONS
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
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_BEAT_SCHEDULE_FILENAME = str(CELERY_DATA_DIR / "beat-schedule")
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", False)

# Periodic work, declared in one place.
CELERY_BEAT_SCHEDULE = {
    "resend-stale-rotations": {
        "task": "credentials.tasks.resend_stale_rotations",
        "schedule": envint("ROTATION_SWEEP_SECONDS", 60),
    },
    "rotate-aged-secrets": {
        "task": "credentials.tasks.rotate_aged_secrets",
        "schedule": envint("AGED_SECRET_CHECK_SECONDS", 3600),
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
    "seal-audit-trail": {
        "task": "core.tasks.seal_audit_trail",
        "schedule": envint("AUDIT_SEAL_SECONDS", 1),
        "options": {"expires": max(envint("AUDIT_SEAL_SECONDS", 1) * 5, 5)},
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
# sealer chains them. On SQLite (one writer at a time anyway) record_event seals its own event
# in the same transaction unless AUDIT_SEAL_INLINE is false; on PostgreSQL it never does.
AUDIT_SEAL_INLINE = envbool(
    "AUDIT_SEAL_INLINE", DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
)
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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"refusals": {"()": "core.log_filters.RefusalWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"filters": ["refusals"]}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
}

SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
