"""IVIG Clinic settings: one module, driven by the environment.

Zero-setup defaults (SQLite, a filesystem Celery broker under var/) so that
`make run` works on a fresh machine; every deployment knob comes from an
environment variable, listed in .env.example.
"""

import os
from pathlib import Path

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from ivig_clinic.env_config import cache_config, database_config, trusted_proxy_count

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("IVIG_VAR_DIR") or BASE_DIR / "var")


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# PRODUCTION switches on every transport-security setting below at once, so a
# deployment cannot forget one of them. `manage.py check --deploy` is clean with it.
PRODUCTION = env_bool("PRODUCTION", False)

_DEV_SECRET_KEY = "django-insecure-ivig-clinic-development-only-key-do-not-deploy"
SECRET_KEY = os.environ.get("SECRET_KEY", "")
# The development key is public (it is in this file): sessions, CSRF tokens and password-reset
# links signed with it can be forged. Only a DEBUG run on one machine may use it; anything else
# refuses to start rather than run on it quietly.
if not SECRET_KEY or SECRET_KEY.startswith("django-insecure"):
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when PRODUCTION is on.")
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set to a long random string when DEBUG is off "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))'); "
            "for development on one machine set DEBUG=1 instead (make run does)."
        )
    SECRET_KEY = _DEV_SECRET_KEY
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when PRODUCTION is on.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "crispy_forms",
    "crispy_bootstrap5",
    "axes",
    "simple_history",
    "csp",
    "ninja",
    "django_htmx",
    "accounts",
    "patients",
    "dosing",
    "visits",
    "risk",
    "scheduling",
    "pathway",
    "clinic",
    "fhir_api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "accounts.middleware.SessionIdleRenewalMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # request.htmx: a view answers an in-place update with its fragment, a plain post with the page.
    "django_htmx.middleware.HtmxMiddleware",
    # A form or API write sent twice does its work once (accounts/submissions.py).
    "accounts.submissions.SubmissionOnceMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Axes last: it reads the outcome of authentication to count failures.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "ivig_clinic.urls"
WSGI_APPLICATION = "ivig_clinic.wsgi.application"
ASGI_APPLICATION = "ivig_clinic.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            # {% submission_token %} in every POST form; {{ user|person }} wherever an action is attributed;
            # {% stacked %} around a wide table that turns into cards on a ward tablet
            "builtins": [
                "accounts.templatetags.submissions",
                "accounts.templatetags.people",
                "accounts.templatetags.layout",
            ],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.clinic",
                "scheduling.context_processors.reminders",
            ],
        },
    },
]

# --- Database: SQLite by default, PostgreSQL (or anything dj-database-url reads) via DATABASE_URL;
# psycopg's connection pool per process with DATABASE_POOL_MAX_SIZE (on by default in PRODUCTION).
DATABASES = {
    "default": database_config(
        os.environ, default_url=f"sqlite:///{VAR_DIR / 'ivig_clinic.sqlite3'}", production=PRODUCTION
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache: Redis from CACHE_URL, shared by every web instance and worker (production, several
# processes); otherwise each process's own memory, which needs no service on one machine.
# Sessions and login-failure counts (axes) are in the database, so they are shared either way.
CACHES = cache_config(os.environ)

# --- Authentication, roles, throttling, idle timeout.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend reading permissions and role groups in one query per request.
    "accounts.auth_backend.RoleBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Failed-login throttling: after AXES_FAILURE_LIMIT failures for one username
# from one address, that pair is locked out for AXES_COOLOFF_MINUTES.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = int(os.environ.get("AXES_COOLOFF_MINUTES", "15")) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# Failures are counted in the database (axes' default handler, named here because it matters): every web
# instance sees the same count, so spreading guesses over the instances behind the balancer gains nothing.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
# The address a failure counts against: behind our balancer (TRUSTED_PROXY_COUNT=1 in the compose
# file) the client's, from the X-Forwarded-For entry the balancer appended, not the balancer's own,
# which would lock a username out for everyone at once. 0 (default): REMOTE_ADDR, no header trusted.
TRUSTED_PROXY_COUNT = trusted_proxy_count(os.environ)
AXES_CLIENT_IP_CALLABLE = "accounts.client_ip.client_ip_address"

# Idle timeout: the session expires SESSION_IDLE_TIMEOUT_MINUTES after the last request,
# and when the browser closes. SessionIdleRenewalMiddleware renews it at most once every
# SESSION_RENEW_SECONDS rather than writing the session row on every request, so the
# session ends up to that many seconds early, never late.
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_IDLE_TIMEOUT_MINUTES", "30")) * 60
SESSION_RENEW_SECONDS = 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True

# --- Transport security, on in production.
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_SSL_REDIRECT = PRODUCTION
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # container health checks speak plain HTTP inside the network
SECURE_HSTS_SECONDS = 31_536_000 if PRODUCTION else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
if PRODUCTION or env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy: everything from this origin only. Clinics run on
# closed networks, so nothing is ever loaded from elsewhere. `data:` images are
# the SVG icons inside Bootstrap's stylesheet (checkboxes, select arrows).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Internationalisation and time: store UTC, show the clinic's local time.
LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "America/New_York")
USE_I18N = True
# The clinic's one date format, shown on every page and typed in every date input whatever the
# browser's language (accounts/clinic_dates.py): strptime's %Y %m %d with "-", "/" or "." between,
# e.g. "%d.%m.%Y". ISO 8601 by default. Times are 24-hour HH:MM. The format module hands it to Django.
CLINIC_DATE_FORMAT = os.environ.get("CLINIC_DATE_FORMAT", "%Y-%m-%d")
FORMAT_MODULE_PATH = ["ivig_clinic.formats"]
USE_TZ = True

# --- Static files, served by the app itself (WhiteNoise); no CDN.
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# collectstatic output, served by WhiteNoise in production; in development the
# files are found where they live (WHITENOISE_USE_FINDERS), so no copy is needed.
STATIC_ROOT = os.environ.get("STATIC_ROOT") or (VAR_DIR / "staticfiles" if PRODUCTION else None)
WHITENOISE_USE_FINDERS = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- E-mail (reminders arrive later through Django's mail settings).
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if PRODUCTION else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH") or str(VAR_DIR / "mail")  # for the file-based backend
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "30"))
# Absolute address of the app, for links in e-mails (e.g. https://ivig.example.org).
SITE_URL = os.environ.get("SITE_URL", "")

# --- FHIR API (/fhir/, README "FHIR API"). Canonical URIs are names, not links: they must not
# change with the host a request came in by, so they come from settings, never from the request.
# The base of our own canonical URLs (the local CodeSystem's url).
FHIR_CANONICAL_BASE = os.environ.get("FHIR_CANONICAL_BASE") or f"{SITE_URL.rstrip('/') or 'http://localhost:8000'}/fhir"
# The identifier system of our MRNs. A hospital sets its own (its MRN OID as urn:oid:..., or the URI
# its EHR uses for the MRN), so that an EHR matches our Patient.identifier to its own.
FHIR_MRN_SYSTEM = os.environ.get("FHIR_MRN_SYSTEM") or f"{FHIR_CANONICAL_BASE}/sid/mrn"
FHIR_SOFTWARE_VERSION = "0.1.0"  # pyproject.toml's version
# Bulk $export files (NDJSON, one per resource type): written by the Celery worker, served by the
# web process, so both must see this folder. Deleted FHIR_EXPORT_RETENTION_HOURS after the export
# completed (the hourly fhir-exports-expire job).
FHIR_EXPORT_ROOT = Path(os.environ.get("FHIR_EXPORT_ROOT") or VAR_DIR / "fhir-exports")
FHIR_EXPORT_RETENTION_HOURS = int(os.environ.get("FHIR_EXPORT_RETENTION_HOURS", "24"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "ivig-clinic@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Celery: Redis (or any Kombu URL) from CELERY_BROKER_URL; without it, Kombu's
# filesystem transport under var/ so one machine needs no broker service.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_FILESYSTEM_DIR = VAR_DIR / "celery-broker"
if CELERY_BROKER_URL == "filesystem://":
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_FILESYSTEM_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_FILESYSTEM_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_FILESYSTEM_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_FILESYSTEM_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Exactly one beat sends the periodic jobs: a second one started by mistake waits on a lock (ivig_clinic/beat.py).
CELERY_BEAT_SCHEDULER = "ivig_clinic.beat:SingleBeatScheduler"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

# Every periodic job, in one place: what runs, when, and why.
CELERY_BEAT_SCHEDULE = {
    # 03:15 local every night: drop expired sessions (idle timeouts leave rows
    # behind in the session table) and login-failure records past their cool-off.
    "housekeeping-nightly": {
        "task": "accounts.tasks.housekeeping",
        "schedule": crontab(hour=3, minute=15),
        "options": {"expires": 60 * 60},
    },
    # Every 5 minutes: queue the e-mail of reminders whose due time has come. Reminders are made
    # ahead when their data is written (scheduling/signals.py); this only reads a window on an
    # indexed due time, so it costs the same in any size of clinic.
    "reminders-sweep": {
        "task": "scheduling.tasks.reminders_sweep",
        "schedule": 5 * 60,
        "options": {"expires": 4 * 60},
    },
    # 01:45 local every night, before the 08:00 reminders of the day and apart from the other
    # nightly jobs: recompute every patient's reminders. It brings within the 35-day horizon
    # what time alone makes due (TIS dates, review windows, overdue days), repairs drift left
    # by a missed trigger (logged as a warning with counts by kind), and is the first run of a
    # clinic whose data was loaded in bulk. Idempotent: subject keys are unique.
    "reminders-reconcile-nightly": {
        "task": "scheduling.tasks.reminders_reconcile",
        "schedule": crontab(hour=1, minute=45),
        "options": {"expires": 2 * 60 * 60},
    },
    # 02:30 local every night: risk rules that depend on the date alone (age, diagnosis within a
    # year, a cancer screen going stale) change without any edit to the chart. It also sets the
    # dashboard's kept flag totals (risk.FlagTally) from the per-patient summaries afresh.
    "risk-flags-nightly": {
        "task": "risk.tasks.flags_recompute_nightly",
        "schedule": crontab(hour=2, minute=30),
        "options": {"expires": 2 * 60 * 60},
    },
    # Hourly: delete the files of bulk FHIR exports past FHIR_EXPORT_RETENTION_HOURS (whole patient
    # records should not linger on disk) and give up on exports whose worker never finished them.
    "fhir-exports-expire": {
        "task": "fhir_api.tasks.bulk_exports_expire",
        "schedule": crontab(minute=40),
        "options": {"expires": 30 * 60},
    },
}

# Django logs request paths ("Not Found: /scheduling/calendar/<secret>"); every handler redacts
# calendar feed secrets and token= values first (gunicorn's access log: gunicorn.conf.py).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "accounts.log_redaction.RedactSecrets"}},
    "formatters": {
        "django.server": {"()": "django.utils.log.ServerFormatter", "format": "[{server_time}] {message}", "style": "{"}
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_secrets"]},
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["redact_secrets"],
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "axes": {"level": "WARNING"},
        # Replaces Django's default handlers for "django" (its DEBUG console handler would print
        # paths unredacted): its records go to the root's redacting console handler instead.
        "django": {"level": "INFO"},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
    },
}

# Name shown in the header and in e-mails.
CLINIC_NAME = os.environ.get("CLINIC_NAME", "IVIG Clinic")
