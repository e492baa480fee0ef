"""Phoenix settings: one module, driven by the environment (the variables are listed in README.md, Configuration).

Every value has a default that works right after a clone (an embedded SQLite database, DEBUG
off but a clear message when the secret key is missing). Production sets the variables from
SSM Parameter Store and Secrets Manager through deploy/userdata.sh.
"""

import ipaddress
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

# Keys the secret key was rotated away from, newest first, comma-separated: sessions, signed
# values and sealed columns (tracking/sealing.py) made under them stay valid (docs/deploy.md).
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS", "")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_tasks",
    "django_tasks_db",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "import_export",
    "simple_history",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "tracking",
    "phoenix.db",
]

MIDDLEWARE = [
    "phoenix.headers.PermissionsPolicyMiddleware",  # outermost: on every answer, /healthz too
    "phoenix.db.middleware.HealthCheckMiddleware",  # first: /healthz answers any Host header
    "phoenix.bodylimit.BodyLimitMiddleware",  # before anything reads a body (limits by route)
    "phoenix.db.lanes.LaneMiddleware",  # bulkheads per lane and the queue bound: 503 at once when full
    "django.middleware.security.SecurityMiddleware",
    # Serves /static/ from STATIC_ROOT inside gunicorn (behind the ALB there is no other web server).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "phoenix.headers.CSPMiddleware",  # django-csp's, the policy written once per process
    "tracking.cutover.maintenance.MaintenanceMiddleware",
    "phoenix.db.middleware.DatabaseRoutingMiddleware",  # per-request routing state, pins, 503s
    "phoenix.db.middleware.SessionMiddleware",  # Django's, tolerant of a down writer on reads
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "tracking.api.middleware.PrivateAnswersMiddleware",  # Cache-Control of answers to a partner's token
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): the admin's second factor
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Audit: history records name the staff user who made the change.
    "simple_history.middleware.HistoryRequestMiddleware",
    # Login lockout; kept last, as django-axes asks.
    "axes.middleware.AxesMiddleware",
]

# Admin messages live in the session (server side), not in the signed but readable "messages"
# cookie: one of them shows a new webhook signing secret once. Only staff pages add messages, and
# staff have a session anyway; the public pages use none.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
# Public GET pages (the tracking site's home, results and shipment pages, and the partner
# API's tracking reads, whose token DRF checks itself) run a lean chain: for every MIDDLEWARE
# entry, whether they "run" or "skip" it (phoenix/publicget.py). A new middleware without a
# decision here fails the system check phoenix.E001 and the app's start.
# Only the pages themselves: /, /track/ (with ?numbers=) and /track/<number>/; the notify pages
# below /track/<number>/notify/ keep a session (the masked address of "Check your inbox").
PHOENIX_PUBLIC_GET_PATHS = r"^/(?:track/(?:[^/]+/)?|api/v1/tracking(?:/[^/]+)?)?$"
PHOENIX_PUBLIC_GET_MIDDLEWARE = {
    "phoenix.headers.PermissionsPolicyMiddleware": "run",
    "phoenix.db.middleware.HealthCheckMiddleware": "run",
    "phoenix.bodylimit.BodyLimitMiddleware": "run",
    "phoenix.db.lanes.LaneMiddleware": "run",  # bulkheads: public pages are the lane they protect others from
    "django.middleware.security.SecurityMiddleware": "run",
    "whitenoise.middleware.WhiteNoiseMiddleware": "run",
    "phoenix.headers.CSPMiddleware": "run",
    "tracking.cutover.maintenance.MaintenanceMiddleware": "run",
    "phoenix.db.middleware.DatabaseRoutingMiddleware": "run",  # pins, failover, 503s
    "multidb.middleware.PinningRouterMiddleware": "run",  # PHOENIX_ROUTER=multidb only
    "phoenix.db.middleware.SessionMiddleware": "skip",  # the pages read and write no session
    "django.middleware.locale.LocaleMiddleware": "run",
    "django.middleware.common.CommonMiddleware": "run",
    "tracking.api.middleware.PrivateAnswersMiddleware": "run",
    "django.middleware.csrf.CsrfViewMiddleware": "run",
    "django.contrib.auth.middleware.AuthenticationMiddleware": "skip",  # they show nobody's account
    "django_otp.middleware.OTPMiddleware": "skip",  # staff's second factor: no staff page here
    "django.contrib.messages.middleware.MessageMiddleware": "skip",  # they show no messages
    "django.middleware.clickjacking.XFrameOptionsMiddleware": "run",
    "simple_history.middleware.HistoryRequestMiddleware": "skip",  # a GET page changes nothing
    "axes.middleware.AxesMiddleware": "skip",  # no login form: nothing to lock out
}

# django-axes checks a login against its lockout table before Django's own backend.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
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
    # The public tracking pages (tracking/jinja2/): Jinja2 through Django's own backend, each
    # translation and URL made once per language (tracking/site/templating.py).
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "NAME": "jinja2",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "environment": "tracking.site.templating.environment",
            "context_processors": ["tracking.site.templating.page_context"],
        },
    },
]

# Database: the writer is the Aurora cluster endpoint, the reader the reader endpoint.
# Locally both are MariaDB servers started by deploy/local/cluster.sh; with neither variable
# set, an embedded SQLite file serves `make run`.
DATABASES = {"default": database_config("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if env_str("DATABASE_READER_URL"):
    DATABASES["reader"] = database_config("DATABASE_READER_URL", role="reader")
    # Inside the test runner the reader is the writer's test database; tests that need the
    # real replica talk to it over a second connection or through a live server.
    DATABASES["reader"]["TEST"] = {"MIRROR": "default"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Read-your-writes window (seconds) after a write; used by phoenix/db routing.
PHOENIX_PIN_SECONDS = env_int("PHOENIX_PIN_SECONDS", 5)

# `make bench` only: serve /bench/floor, the fixed-body view the pages are measured against.
PHOENIX_BENCH = env_bool("PHOENIX_BENCH")

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
# Seconds after which a database socket whose peer acknowledges nothing (a partition) fails:
# TCP_USER_TIMEOUT plus keepalive on every connection (phoenix/db/sockets.py); 0 = off.
PHOENIX_DB_TCP_USER_TIMEOUT = env_int("PHOENIX_DB_TCP_USER_TIMEOUT", 5)
# Statement budgets per lane (phoenix/db/lanes.py), in milliseconds: the server kills a
# statement of a public page, a partner API call or an admin screen that runs longer (503, the
# busy class). "other" is everything outside a request (migrations, commands, the worker): 0 =
# no budget, their read timeout bounds them. Each is capped below its alias's read timeout.
PHOENIX_DB_STATEMENT_MS = {
    "public": env_int("PHOENIX_DB_STATEMENT_MS_PUBLIC", 1500),
    "api": env_int("PHOENIX_DB_STATEMENT_MS_API", 4000),
    "admin": env_int("PHOENIX_DB_STATEMENT_MS_ADMIN", 8000),
    "other": env_int("PHOENIX_DB_STATEMENT_MS_OTHER", 0),
}
# Bulkheads (phoenix/db/lanes.py): requests of one lane in flight per process, at most; one more
# is answered 503 with Retry-After at once. The defaults leave a thread of GUNICORN_THREADS to
# the other lanes. 0 = no limit.
_threads = env_int("GUNICORN_THREADS", max(4, 2 * (os.cpu_count() or 1)))
PHOENIX_LANE_THREADS = {
    "public": env_int("PHOENIX_LANE_THREADS_PUBLIC", max(1, _threads - 1)),
    "api": env_int("PHOENIX_LANE_THREADS_API", max(1, _threads - 1)),
    "admin": env_int("PHOENIX_LANE_THREADS_ADMIN", max(1, _threads // 2)),
}
# A request that waited longer than this for a free thread is answered 503 at once (0 = never).
PHOENIX_MAX_QUEUE_MS = env_int("PHOENIX_MAX_QUEUE_MS", 1000)
# Lag-aware reader (phoenix/db/lag.py): each process checks the replica's lag every
# PHOENIX_REPLICA_LAG_CHECK_SECONDS, off the request path; while it is more than
# PHOENIX_MAX_REPLICA_LAG seconds behind (default: the pin window), or its lag is unknown,
# reads go to the writer. 0 switches the check off.
PHOENIX_MAX_REPLICA_LAG = env_int("PHOENIX_MAX_REPLICA_LAG", PHOENIX_PIN_SECONDS)
PHOENIX_REPLICA_LAG_CHECK_SECONDS = env_int("PHOENIX_REPLICA_LAG_CHECK_SECONDS", 1)
# The reader is shunned too while that check takes longer than this (a slow reader); 0 = never.
PHOENIX_MAX_READER_PROBE_MS = env_int("PHOENIX_MAX_READER_PROBE_MS", 500)

# Caches, in each process's memory: "default" holds small per-process memos (the lookup and
# throttle counters are shared rows on the writer, tracking/budget.py); "pages" the rendered public tracking pages (tracking/site/pagecache.py),
# each kept at most PHOENIX_PAGE_CACHE_SECONDS (capped at the page's public max-age of 60 s;
# 0 switches it off, the default with DJANGO_DEBUG=1 so that a change shows at once).
PHOENIX_PAGE_CACHE_SECONDS = env_int("PHOENIX_PAGE_CACHE_SECONDS", 0 if DEBUG else 60)
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "phoenix-default"},
    "pages": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "phoenix-pages",
        # About 8 KB a page: 10,000 pages are some 80 MB per worker at most.
        "OPTIONS": {"MAX_ENTRIES": env_int("PHOENIX_PAGE_CACHE_ENTRIES", 10000)},
    },
}

# Maintenance switch (tracking/cutover/maintenance.py): how long a process trusts its last read of the
# switch, and the Retry-After (seconds) that refused writes carry.
PHOENIX_MAINTENANCE_CACHE_SECONDS = env_int("PHOENIX_MAINTENANCE_CACHE_SECONDS", 2)
PHOENIX_MAINTENANCE_RETRY_AFTER = env_int("PHOENIX_MAINTENANCE_RETRY_AFTER", 120)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Internationalisation: Spanish and English, the browser's language respected.
LANGUAGE_CODE = "es"
LANGUAGES = [("es", "Español"), ("en", "English")]
# The app's catalogue is listed too, so that its translations win over third-party apps' ones
# for the same words ("History" is "Historial" here, "Histórico" in another app).
LOCALE_PATHS = [BASE_DIR / "locale", BASE_DIR / "tracking" / "locale"]
TIME_ZONE = "America/Mexico_City"
USE_I18N = True
USE_TZ = True

# Static files and media.
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Hashed, compressed file names from `collectstatic`, served by WhiteNoise with far-future caching.
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("PHOENIX_MEDIA_ROOT", str(BASE_DIR / "media")))

# Partner API (tracking/api/views.py): token authentication only, JSON only, one error shape,
# throttles per token and per client IP. Rates are "N/second|minute|hour|day".
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tracking.api.auth.PartnerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["tracking.api.errors.LimitedJSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["tracking.api.auth.PartnerTokenThrottle", "tracking.api.auth.ClientIPThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "partner": env_str("PHOENIX_API_RATE_PARTNER", "600/minute"),
        "ip": env_str("PHOENIX_API_RATE_IP", "120/minute"),
    },
    # Proxies in front of the app that append to X-Forwarded-For (PHOENIX_PROXY_HOPS, 1 behind
    # the ALB): the entry that many places from the right is the client; 0 trusts REMOTE_ADDR.
    "NUM_PROXIES": env_int("PHOENIX_API_NUM_PROXIES", env_int("PHOENIX_PROXY_HOPS", 1)),
    "EXCEPTION_HANDLER": "tracking.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# Failed token checks (unknown keys) allowed per client address; past it the API answers 429
# without looking any key up from that address until the window has passed.
PHOENIX_API_TOKEN_FAILURES = env_str("PHOENIX_API_TOKEN_FAILURES", "20/minute")
SPECTACULAR_SETTINGS = {
    "TITLE": "Phoenix partner API",
    "DESCRIPTION": "Tracking JSON, proof-of-delivery images, shipment creation and bulk scan-event ingest. "
    "See docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# Bodies by route (phoenix/bodylimit.py), refused with 413 on their Content-Length before
# anything reads them: the API (a batch of 500 scan events is about 150 KB of JSON), the admin's
# uploads (proofs of delivery, CSV imports), every other route (the public forms, the language
# switch). DATA_UPLOAD_MAX_MEMORY_SIZE bounds the parsed form or JSON data behind them.
PHOENIX_API_MAX_BODY_BYTES = env_int("PHOENIX_API_MAX_BODY_BYTES", 1024 * 1024)
PHOENIX_ADMIN_MAX_BODY_BYTES = env_int("PHOENIX_ADMIN_MAX_BODY_BYTES", 20 * 1024 * 1024)
PHOENIX_FORM_MAX_BODY_BYTES = env_int("PHOENIX_FORM_MAX_BODY_BYTES", 16 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = PHOENIX_API_MAX_BODY_BYTES
# Scan times further ahead than this are refused as a scanner clock error.
PHOENIX_EVENT_MAX_FUTURE_SECONDS = env_int("PHOENIX_EVENT_MAX_FUTURE_SECONDS", 15 * 60)
# The API's changes feeds leave changes younger than this for a later page, so that a
# transaction that commits late never lands behind a cursor already handed out (docs/api.md).
PHOENIX_FEED_SETTLE_SECONDS = env_int("PHOENIX_FEED_SETTLE_SECONDS", 10)
# Media (proof-of-delivery images, import files): S3 through django-storages when a bucket is
# named (in AWS the application stack's bucket, through Parameter Store), local disk otherwise. Objects are private; staff get them through a staff-only view
# that redirects to a short-lived presigned URL. Credentials come from the instance role (or
# the usual AWS_* variables); AWS_S3_ENDPOINT_URL points tests at a local S3 API server.
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
if AWS_STORAGE_BUCKET_NAME:
    _media_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL") or None,
            "region_name": env_str("AWS_S3_REGION_NAME") or None,
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": env_int("PHOENIX_MEDIA_URL_SECONDS", 60),
            "file_overwrite": False,
        },
    }
else:
    _media_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _media_storage,
    # Hashed, compressed static files served by WhiteNoise from STATIC_ROOT (collectstatic).
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Proof-of-delivery images: largest upload and largest side accepted.
PHOENIX_POD_MAX_BYTES = env_int("PHOENIX_POD_MAX_BYTES", 5 * 1024 * 1024)
PHOENIX_POD_MAX_PIXELS = env_int("PHOENIX_POD_MAX_PIXELS", 6000)

# Admin CSV import/export (django-import-export): imports need the model's add permission,
# exports its view permission; every import runs in one transaction (all or nothing).
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "add"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False
# The uploaded file waits between the dry run and the confirmation in media storage (S3 in
# AWS), so that the confirming request may land on another instance.
IMPORT_EXPORT_TMP_STORAGE_CLASS = "import_export.tmp_storages.MediaStorage"

# Audit (django-simple-history): no "revert" in the admin; a revert would bypass the
# forward-only milestone rules and would try to change immutable events.
SIMPLE_HISTORY_REVERT_DISABLED = True

# Login lockout (django-axes): after PHOENIX_LOGIN_FAILURE_LIMIT failures for one username from
# one address, that pair is locked out for PHOENIX_LOGIN_COOLOFF_MINUTES. Behind the ALB the
# client address is the one the ALB appended to X-Forwarded-For (PHOENIX_PROXY_HOPS proxies).
AXES_FAILURE_LIMIT = env_int("PHOENIX_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("PHOENIX_LOGIN_COOLOFF_MINUTES", 30) / 60
# Locked per username from an address, and per address whatever the usernames (password
# spraying: one address trying many accounts). Not per username alone: anyone could then lock a
# colleague out from anywhere; a password guessed from many addresses still lacks the second
# factor (phoenix/staffotp.py).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "phoenix.clientip.client_ip"

# The admin's second factor (phoenix/staffotp.py): "superusers" need a confirmed TOTP device,
# "all" staff need one, "enrolled": only those who have one give its code.
PHOENIX_ADMIN_OTP = env_str("PHOENIX_ADMIN_OTP", "enrolled" if DEBUG else "superusers")
if PHOENIX_ADMIN_OTP not in ("superusers", "all", "enrolled"):
    raise ImproperlyConfigured(f"PHOENIX_ADMIN_OTP must be superusers, all or enrolled, got {PHOENIX_ADMIN_OTP!r}")
OTP_TOTP_ISSUER = "QualityPost Phoenix"

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
# The language switch's cookie: like the others, HttpOnly, SameSite=Lax, Secure when they are.
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
# Staff sessions (the only sessions with a login) last a working day, not Django's two weeks.
SESSION_COOKIE_AGE = env_int("PHOENIX_SESSION_SECONDS", 9 * 3600)
# After the admin login, a missing or foreign ?next= lands on the admin index (not a 404).
LOGIN_REDIRECT_URL = "admin:index"
LOGIN_URL = "admin:login"
PHOENIX_PERMISSIONS_POLICY = env_str(
    "PHOENIX_PERMISSIONS_POLICY",
    "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
)
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

# Proxies in front of gunicorn that append to X-Forwarded-For (the ALB; HAProxy locally): the
# client IP is the entry this many places from the right. 0 trusts no header (REMOTE_ADDR).
PHOENIX_PROXY_HOPS = env_int("PHOENIX_PROXY_HOPS", 1)
# /readyz answers only clients within these networks (the ALB's health checker connects from its
# private addresses in the VPC; operators on the VPN) or with the header X-Readyz-Token equal to
# PHOENIX_READYZ_TOKEN; anyone else gets 404. The default is loopback and the private ranges,
# which hold any VPC CIDR; narrow it to the VPC CIDR where the VPC shares a range with others.
PHOENIX_READYZ_NETWORKS = env_list(
    "PHOENIX_READYZ_NETWORKS", "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"
)
for _network in PHOENIX_READYZ_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"PHOENIX_READYZ_NETWORKS: {_network!r} is not a network such as 10.0.0.0/16"
        ) from None
PHOENIX_READYZ_TOKEN = env_secret("PHOENIX_READYZ_TOKEN")
# Seconds one /readyz probe answers for in each process (0: probe on every request).
PHOENIX_READYZ_CACHE_SECONDS = env_int("PHOENIX_READYZ_CACHE_SECONDS", 2)
# Lookups of tracking numbers (tracking/budget.py) against enumeration, one budget per client
# address (per partner for a partner's token) charged by every path that tells whether a number
# exists: the site's pages, the notify page, the API's tracking reads and the events answers.
# Every lookup spends points from a budget that refills each window; a number that is not found
# and a wrong postal code cost PHOENIX_LOOKUP_MISS_COST, a found number costs 1. The counters are
# rows on the writer, shared by every process and instance; each process writes its points once
# PHOENIX_BUDGET_SYNC_POINTS have gathered (a miss at once).
PHOENIX_LOOKUP_BUDGET = env_int("PHOENIX_LOOKUP_BUDGET", 300)
PHOENIX_LOOKUP_WINDOW = env_int("PHOENIX_LOOKUP_WINDOW", 600)
PHOENIX_LOOKUP_MISS_COST = env_int("PHOENIX_LOOKUP_MISS_COST", 10)
PHOENIX_BUDGET_SYNC_POINTS = env_int("PHOENIX_BUDGET_SYNC_POINTS", 10)
# The postal-code unlock (tracking/site/unlock.py): after PHOENIX_UNLOCK_FAILURES wrong codes for one
# shipment, from any addresses, its unlock is locked for PHOENIX_UNLOCK_LOCK_MINUTES, twice as
# long at each lockout in a row, at most PHOENIX_UNLOCK_MAX_LOCK_MINUTES.
PHOENIX_UNLOCK_FAILURES = env_int("PHOENIX_UNLOCK_FAILURES", 5)
PHOENIX_UNLOCK_LOCK_MINUTES = env_int("PHOENIX_UNLOCK_LOCK_MINUTES", 15)
PHOENIX_UNLOCK_MAX_LOCK_MINUTES = env_int("PHOENIX_UNLOCK_MAX_LOCK_MINUTES", 24 * 60)
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
    # No postal code in a log line (phoenix/logfilters.py).
    "filters": {"redact_request": {"()": "phoenix.logfilters.RedactRequest"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "plain" if DEBUG else "json",
            "filters": ["redact_request"],
        },
    },
    "root": {"handlers": ["stdout"], "level": env_str("PHOENIX_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # django-axes logs every successful login and its start-up at INFO; lockouts are WARNING.
        "axes": {"level": "WARNING"},
    },
}

# Notifications (docs/notifications.md): a background worker (`manage.py db_worker`) sends what
# the scan-event path recorded as owed. E-mail goes through Amazon SES in production
# (PHOENIX_EMAIL_BACKEND=ses, credentials from the instance role) and any SMTP server locally.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
_EMAIL_BACKENDS = {
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "ses": "django_ses.SESBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
}
_email_backend = env_str("PHOENIX_EMAIL_BACKEND", "console" if DEBUG else "smtp")
if _email_backend not in _EMAIL_BACKENDS:
    raise ImproperlyConfigured(
        f"PHOENIX_EMAIL_BACKEND must be one of {', '.join(_EMAIL_BACKENDS)}, got {_email_backend!r}"
    )
EMAIL_BACKEND = _EMAIL_BACKENDS[_email_backend]
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
AWS_SES_REGION_NAME = env_str("AWS_SES_REGION_NAME", env_str("AWS_REGION", "us-east-1"))
if env_str("AWS_SES_REGION_ENDPOINT_URL"):  # tests: moto on loopback
    AWS_SES_REGION_ENDPOINT_URL = env_str("AWS_SES_REGION_ENDPOINT_URL")
DEFAULT_FROM_EMAIL = env_str("PHOENIX_FROM_EMAIL", "QualityPost <avisos@qualitypost.mx>")
# Absolute links in e-mails (the worker has no request to build them from). In AWS the
# application stack writes it to Parameter Store; `check --deploy` refuses, with DEBUG off, a
# value that is not https:// or is loopback (tracking/notify/checks.py), as this default is.
PHOENIX_SITE_URL = env_str("PHOENIX_SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# Seconds a worker holds a claimed notification before another worker may take it over.
PHOENIX_NOTIFY_LEASE_SECONDS = env_int("PHOENIX_NOTIFY_LEASE_SECONDS", 300)
# Subscription requests allowed per hour, per shipment and per client IP.
PHOENIX_NOTIFY_RATE_PER_SHIPMENT = env_int("PHOENIX_NOTIFY_RATE_PER_SHIPMENT", 5)
PHOENIX_NOTIFY_RATE_PER_IP = env_int("PHOENIX_NOTIFY_RATE_PER_IP", 20)
# Confirmation e-mails sent to one address in 24 hours, whatever the shipments and clients.
PHOENIX_NOTIFY_CONFIRMATIONS_PER_ADDRESS_PER_DAY = env_int("PHOENIX_NOTIFY_CONFIRMATIONS_PER_ADDRESS_PER_DAY", 5)
# Webhook URLs must be HTTPS to a public address. Only tests and local stacks set this, to
# allow http:// to 127.0.0.1 (never any other private address).
PHOENIX_WEBHOOK_ALLOW_LOOPBACK = env_bool("PHOENIX_WEBHOOK_ALLOW_LOOPBACK")
# Wall-clock deadline of one delivery attempt (connect, TLS, request, answer), in seconds.
PHOENIX_WEBHOOK_TIMEOUT = env_int("PHOENIX_WEBHOOK_TIMEOUT", 10)

# --- WhatsApp and SMS updates (docs/notifications.md, "Phone updates") ---
# WhatsApp Business Platform (Cloud API): the Graph API base, its version, the business phone
# number's id, the system-user access token and the app secret that signs status webhooks
# (Secrets Manager in AWS), and the token of the webhook's GET verify handshake. Unset token or
# phone number id: WhatsApp is off and every message goes by SMS.
PHOENIX_WHATSAPP_API_URL = env_str("PHOENIX_WHATSAPP_API_URL", "https://graph.facebook.com").rstrip("/")
PHOENIX_WHATSAPP_API_VERSION = env_str("PHOENIX_WHATSAPP_API_VERSION", "v21.0")
PHOENIX_WHATSAPP_PHONE_NUMBER_ID = env_str("PHOENIX_WHATSAPP_PHONE_NUMBER_ID")
PHOENIX_WHATSAPP_TOKEN = env_secret("PHOENIX_WHATSAPP_TOKEN")
PHOENIX_WHATSAPP_APP_SECRET = env_secret("PHOENIX_WHATSAPP_APP_SECRET")
PHOENIX_WHATSAPP_VERIFY_TOKEN = env_secret("PHOENIX_WHATSAPP_VERIFY_TOKEN")
PHOENIX_WHATSAPP_TIMEOUT = env_int("PHOENIX_WHATSAPP_TIMEOUT", 10)
# SMS through Amazon SNS (instance-role credentials). Sender identities per destination
# country, "MX=QPOST,US=+15550100": an alphanumeric sender id or an origination number.
AWS_SNS_REGION_NAME = env_str("AWS_SNS_REGION_NAME", env_str("AWS_REGION", "us-east-1"))
AWS_SNS_ENDPOINT_URL = env_str("AWS_SNS_ENDPOINT_URL")  # tests: moto on loopback
PHOENIX_SMS_SENDER_IDS = dict(item.split("=", 1) for item in env_list("PHOENIX_SMS_SENDER_IDS", "") if "=" in item)
# The secret path segment of the SNS subscription that brings inbound SMS (STOP) and SMS
# delivery events: /notify/sms/events/<token>/. Unset: the endpoint answers 404.
PHOENIX_SMS_EVENTS_TOKEN = env_secret("PHOENIX_SMS_EVENTS_TOKEN")
# Only messages of this topic, signed by SNS with a certificate from an SNS host, are accepted.
PHOENIX_SMS_EVENTS_TOPIC_ARN = env_str("PHOENIX_SMS_EVENTS_TOPIC_ARN")
PHOENIX_SNS_CERT_URL_PATTERN = env_str(
    "PHOENIX_SNS_CERT_URL_PATTERN", r"^https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[^?#]+\.pem$"
)
# Rules: messages per shipment and number (the cap), and the quiet hours in the destination's
# time zone, when everything but out-for-delivery and exceptions waits.
PHOENIX_PHONE_MESSAGES_PER_SHIPMENT = env_int("PHOENIX_PHONE_MESSAGES_PER_SHIPMENT", 6)
PHOENIX_QUIET_HOURS_START = env_int("PHOENIX_QUIET_HOURS_START", 21)
PHOENIX_QUIET_HOURS_END = env_int("PHOENIX_QUIET_HOURS_END", 8)
# Webhook lanes (one per endpoint) with a POST in flight at once, per worker process.
PHOENIX_WEBHOOK_LANES = env_int("PHOENIX_WEBHOOK_LANES", 8)
