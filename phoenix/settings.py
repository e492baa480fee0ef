"""Phoenix settings: one module, driven by the environment (see ../shared/DESIGN.md section 3).

Every value has a default that works right after a clone (an embedded SQLite database, DEBUG
off but a clear message when the secret key is missing). Production sets the variables from
SSM Parameter Store and Secrets Manager through deploy/userdata.sh.
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from phoenix.dburl import database_config

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}") from None


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_secret(name: str) -> str:
    """Return NAME from the environment, or the contents of the file named by NAME_FILE."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path} cannot be read: {exc.strerror}") from None
    return os.environ.get(name, "")


DEBUG = env_bool("DJANGO_DEBUG")

SECRET_KEY = env_secret("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) is not set; set it, "
            "or set DJANGO_DEBUG=1 for local development."
        )
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production-0123456789"  # noqa: S105

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "tracking",
    "phoenix.db",
]

MIDDLEWARE = [
    "phoenix.db.middleware.HealthCheckMiddleware",  # first: /healthz answers any Host header
    "django.middleware.security.SecurityMiddleware",
    "phoenix.maintenance.MaintenanceMiddleware",
    # Serves /static/ from STATIC_ROOT inside gunicorn (behind the ALB there is no other web server).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "phoenix.db.middleware.DatabaseRoutingMiddleware",  # per-request routing state, pins, 503s
    "phoenix.db.middleware.SessionMiddleware",  # Django's, tolerant of a down writer on reads
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "phoenix.urls"
WSGI_APPLICATION = "phoenix.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: the writer is the Aurora cluster endpoint, the reader the reader endpoint.
# Locally both are MariaDB servers started by deploy/local/cluster.sh; with neither variable
# set, an embedded SQLite file serves `make run`.
DATABASES = {"default": database_config("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if env_str("DATABASE_READER_URL"):
    DATABASES["reader"] = database_config("DATABASE_READER_URL")
    # Inside the test runner the reader is the writer's test database; tests that need the
    # real replica talk to it over a second connection or through a live server.
    DATABASES["reader"]["TEST"] = {"MIRROR": "default"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Read-your-writes window (seconds) after a write; used by phoenix/db routing.
PHOENIX_PIN_SECONDS = env_int("PHOENIX_PIN_SECONDS", 5)

# `make bench` only: serve /bench/floor, the fixed-body view the pages are measured against.
PHOENIX_BENCH = env_bool("PHOENIX_BENCH")

# Maintenance switch (phoenix/maintenance.py): how long a process trusts its last read of the
# switch, and the Retry-After (seconds) that refused writes carry.
PHOENIX_MAINTENANCE_CACHE_SECONDS = env_int("PHOENIX_MAINTENANCE_CACHE_SECONDS", 2)
PHOENIX_MAINTENANCE_RETRY_AFTER = env_int("PHOENIX_MAINTENANCE_RETRY_AFTER", 120)

# Routing (docs/database.md). PHOENIX_ROUTER=phoenix (default) is phoenix.db; `multidb` swaps in
# django-multidb-router and `single` sends everything to the writer (both for the benchmark).
PHOENIX_ROUTER = env_str("PHOENIX_ROUTER", "phoenix")
if PHOENIX_ROUTER not in ("phoenix", "multidb", "single"):
    raise ImproperlyConfigured(f"PHOENIX_ROUTER must be phoenix, multidb or single, got {PHOENIX_ROUTER!r}")
DATABASE_ROUTERS = ["phoenix.db.router.ReadWriteRouter"] if PHOENIX_ROUTER == "phoenix" else []
if PHOENIX_ROUTER == "multidb" and "reader" in DATABASES:
    DATABASE_ROUTERS = ["multidb.PinningReplicaRouter"]
    REPLICA_DATABASES = ["reader"]
    MULTIDB_PINNING_SECONDS = PHOENIX_PIN_SECONDS
    MIDDLEWARE.insert(
        MIDDLEWARE.index("phoenix.db.middleware.SessionMiddleware"), "multidb.middleware.PinningRouterMiddleware"
    )
# Seconds a failed server is avoided by this process: the reader (reads go to the writer), the
# writer (writes fail fast with 503 and pinned reads use the reader).
PHOENIX_DB_READER_DOWN_SECONDS = env_int("PHOENIX_DB_READER_DOWN_SECONDS", 5)
PHOENIX_DB_WRITER_DOWN_SECONDS = env_int("PHOENIX_DB_WRITER_DOWN_SECONDS", 1)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Internationalisation: Spanish and English, the browser's language respected.
LANGUAGE_CODE = "es"
LANGUAGES = [("es", "Español"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "America/Mexico_City"
USE_I18N = True
USE_TZ = True

# Static files and media.
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Hashed, compressed file names from `collectstatic`, served by WhiteNoise with far-future caching.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("PHOENIX_MEDIA_ROOT", str(BASE_DIR / "media")))

# Partner API (tracking/api.py): token authentication only, JSON only, one error shape,
# throttles per token and per client IP. Rates are "N/second|minute|hour|day".
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tracking.api_auth.PartnerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["tracking.api_errors.LimitedJSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["tracking.api_auth.PartnerTokenThrottle", "tracking.api_auth.ClientIPThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "partner": env_str("PHOENIX_API_RATE_PARTNER", "600/minute"),
        "ip": env_str("PHOENIX_API_RATE_IP", "120/minute"),
    },
    "EXCEPTION_HANDLER": "tracking.api_errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Phoenix partner API",
    "DESCRIPTION": "Tracking JSON, shipment creation and bulk scan-event ingest. See docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# A batch of 500 scan events is about 150 KB of JSON; leave room, refuse more with a 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("PHOENIX_API_MAX_BODY_BYTES", 1024 * 1024)
# Scan times further ahead than this are refused as a scanner clock error.
PHOENIX_EVENT_MAX_FUTURE_SECONDS = env_int("PHOENIX_EVENT_MAX_FUTURE_SECONDS", 15 * 60)

# Security: strict by default, relaxed only with DJANGO_DEBUG=1 (plain HTTP on loopback).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp): same-origin scripts, styles and images only, no inline
# code. The public pages use no script at all; the Django admin's scripts are static files.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
    },
}

# Public tracking lookups, limited per client IP (REMOTE_ADDR) against enumeration: every
# lookup spends points from a budget that refills each window; a number that is not found and
# a wrong postal code cost PHOENIX_LOOKUP_MISS_COST, a found number costs 1. Counters live in
# the "default" cache (per process); the WAF rate-based rule is the global limit.
PHOENIX_LOOKUP_BUDGET = env_int("PHOENIX_LOOKUP_BUDGET", 300)
PHOENIX_LOOKUP_WINDOW = env_int("PHOENIX_LOOKUP_WINDOW", 600)
PHOENIX_LOOKUP_MISS_COST = env_int("PHOENIX_LOOKUP_MISS_COST", 10)
# Days a parcel waits at the branch once it is available for pickup.
PHOENIX_PICKUP_HOLD_DAYS = env_int("PHOENIX_PICKUP_HOLD_DAYS", 7)

# Logging: JSON lines on stdout in production, readable lines in development.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "plain" if DEBUG else "json",
        },
    },
    "root": {"handlers": ["stdout"], "level": env_str("PHOENIX_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
    },
}
