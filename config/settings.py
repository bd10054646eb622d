"""The only settings module.

Everything is read from the environment (and a `.env` file beside `manage.py`, when present) once,
here. Outside production the embedded defaults run the whole project in one process with no
services; in production, bad configuration stops start-up with one message listing every problem.
See `.env.example` for every variable.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from celery.schedules import crontab

from config.env import EnvReader
from config.observability import build_logging

BASE_DIR = Path(__file__).resolve().parent.parent

env = EnvReader(env_file=BASE_DIR / ".env")

# --- Environment -----------------------------------------------------------------------------
ENVIRONMENT = env.choice("ENVIRONMENT", ("local", "test", "staging", "production"), "local")
IS_PRODUCTION = ENVIRONMENT == "production"
APP_VERSION = env.str("APP_VERSION", "0.1.0")

# Development-only defaults; production refuses to start with either of them.
INSECURE_SECRET_KEY = "local-development-secret-key-never-use-in-production-0123456789"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", "" if IS_PRODUCTION else INSECURE_SECRET_KEY)
DEBUG = env.bool("DEBUG", ENVIRONMENT == "local")
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", () if IS_PRODUCTION else ("localhost", "127.0.0.1", "[::1]", "testserver")
)

# --- Applications ----------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "django_celery_beat",
    "djstripe",
    "config",
    "accounts",
    "projects",
    "files",
    "webhooks",
    "billing",
    "ai",
    "django_celery_results",
    "anymail",
    "django_prometheus",
]

MIDDLEWARE = [
    # First and last: request counts and latency including every other middleware.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # First, so every response (CORS preflights included) carries X-Request-ID and is logged.
    "config.middleware.RequestIdMiddleware",
    "config.middleware.AccessLogMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "config.middleware.SecurityHeadersMiddleware",
    "config.errors.ErrorEnvelopeMiddleware",
    "config.middleware.BodySizeLimitMiddleware",
    "config.throttling.RateLimitHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Counts authenticated /api/v1/app/ requests (usage metric api_requests) after the response.
    "billing.middleware.UsageMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
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
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------------------
DATABASES: dict[str, dict[str, Any]] = {
    "default": env.db("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
# django-prometheus's engines: Django's own backends that also count queries, errors and latency.
DATABASES["default"]["ENGINE"] = DATABASES["default"]["ENGINE"].replace(
    "django.db.backends.", "django_prometheus.db.backends.", 1
)
DATABASE_IS_SQLITE = DATABASES["default"]["ENGINE"].endswith("sqlite3")
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # psycopg 3 with Django's own connection pool; CONN_MAX_AGE must stay 0 with a pool.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"]["connect_timeout"] = env.int(
        "DATABASE_CONNECT_TIMEOUT", 5, minimum=1
    )
    if env.bool("DATABASE_POOL", True):
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN_SIZE", 1, minimum=0),
            "max_size": env.int("DATABASE_POOL_MAX_SIZE", 10, minimum=1),
            "timeout": env.int("DATABASE_POOL_TIMEOUT", 10, minimum=1),
        }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", 0, minimum=0)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, Redis and Celery -----------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL")
CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", "groundwork")
if REDIS_URL:
    CACHES = {
        "default": {
            # django-redis, counting gets, hits and misses (django_cache_* metrics).
            "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "OPTIONS": {
                # Short timeouts: a Redis outage must degrade requests, not hang them.
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 1,
            },
        }
    }
else:
    CACHES = {
        "default": {
            # Django's LocMemCache, counting gets, hits and misses (django_cache_* metrics).
            "BACKEND": "config.metrics.InstrumentedLocMemCache",
            "LOCATION": "groundwork",
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }

# Without a broker, tasks run eagerly in the calling process (after commit, where callers ask).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A message is acknowledged only after its task ran, and a task whose worker process died (OOM,
# SIGKILL) goes straight back to the queue: tasks run at least once, so they are idempotent.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Hard limit (the process running the task is killed) and soft limit (SoftTimeLimitExceeded).
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT_SECONDS", 300, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env.int(
    "CELERY_TASK_SOFT_TIME_LIMIT_SECONDS", max(1, CELERY_TASK_TIME_LIMIT - 60), minimum=1
)
# Redis hands an unacknowledged message out again after this long (a whole worker that died takes
# its running tasks' messages with it until then). Longer than any task runs and any retry waits.
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT_SECONDS", 3600, minimum=1)
# Retries of `retrying_task` wait 1, 2, 4, ... seconds (full jitter) up to this.
CELERY_RETRY_BACKOFF_MAX = env.int("CELERY_RETRY_BACKOFF_MAX_SECONDS", 600, minimum=1)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # How often a worker looks for messages left unacknowledged past the visibility timeout.
    "unacked_restore_interval": max(1, min(10, CELERY_VISIBILITY_TIMEOUT // 10)),
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# config.beat's scheduler: django-celery-beat's tables, with the declared schedule synced in.
CELERY_BEAT_SCHEDULER = "config.beat:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
if CELERY_TASK_SOFT_TIME_LIMIT >= CELERY_TASK_TIME_LIMIT:
    env.problems.append(
        "CELERY_TASK_SOFT_TIME_LIMIT_SECONDS must be shorter than CELERY_TASK_TIME_LIMIT_SECONDS."
    )
for _name, _seconds in (
    ("CELERY_TASK_TIME_LIMIT_SECONDS", CELERY_TASK_TIME_LIMIT),
    ("CELERY_RETRY_BACKOFF_MAX_SECONDS", CELERY_RETRY_BACKOFF_MAX),
):
    if _seconds >= CELERY_VISIBILITY_TIMEOUT:
        env.problems.append(
            f"{_name} must be shorter than CELERY_VISIBILITY_TIMEOUT_SECONDS "
            f"({CELERY_VISIBILITY_TIMEOUT}), or Redis would hand the task out twice."
        )

# --- Authentication --------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.StaffEmailBackend"]
# Staff sign in with their email; API users are identified by the provider's subject, and two
# subjects may share an email, so the email is not unique (the backend above handles that).
SILENCED_SYSTEM_CHECKS = ["auth.W004"]

INSECURE_JWT_SECRET = "local-development-jwt-secret-never-use-in-production"  # noqa: S105
SUPABASE_URL = env.str("SUPABASE_URL").rstrip("/")
CLERK_ISSUER_URL = env.str("CLERK_ISSUER_URL").rstrip("/")
_preset_jwks, _preset_issuer, _preset_audience = "", "", ""
if SUPABASE_URL:
    _preset_jwks = f"{SUPABASE_URL}/auth/v1/.well-known/jwks.json"
    _preset_issuer, _preset_audience = f"{SUPABASE_URL}/auth/v1", "authenticated"
elif CLERK_ISSUER_URL:
    _preset_jwks = f"{CLERK_ISSUER_URL}/.well-known/jwks.json"
    _preset_issuer = CLERK_ISSUER_URL

AUTH_JWT_SECRET = env.str("AUTH_JWT_SECRET", "" if IS_PRODUCTION else INSECURE_JWT_SECRET)
AUTH_JWKS_URL = env.str("AUTH_JWKS_URL", _preset_jwks)
AUTH_ISSUER = env.str("AUTH_ISSUER", _preset_issuer)
AUTH_AUDIENCE = env.str("AUTH_AUDIENCE", _preset_audience)
AUTH_LEEWAY_SECONDS = env.int("AUTH_LEEWAY_SECONDS", 30, minimum=0)
AUTH_AUTHORIZED_PARTIES = env.list("AUTH_AUTHORIZED_PARTIES")
AUTH_JWKS_CACHE_SECONDS = env.int("AUTH_JWKS_CACHE_SECONDS", 3600, minimum=60)
AUTH_JWKS_MIN_REFRESH_SECONDS = env.int("AUTH_JWKS_MIN_REFRESH_SECONDS", 60, minimum=1)
AUTH_JWKS_TIMEOUT_SECONDS = env.int("AUTH_JWKS_TIMEOUT_SECONDS", 5, minimum=1)
# last_login_at is refreshed at most this often per user.
AUTH_LOGIN_REFRESH_SECONDS = 3600

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- API -------------------------------------------------------------------------------------
RATE_LIMITS = {
    "default": env.rate("RATE_LIMIT_DEFAULT", "60/minute"),
    "ai": env.rate("RATE_LIMIT_AI", "10/minute"),
}
API_DOCS_ENABLED = env.bool("API_DOCS_ENABLED", not IS_PRODUCTION)
# Only `make bench` turns this on: it adds the two reference views of bench/ceilings.py.
BENCH_CEILINGS = env.bool("BENCH_CEILINGS", False)
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440, minimum=1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["config.throttling.DefaultRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["drf_orjson_renderer.renderers.ORJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["drf_orjson_renderer.parsers.ORJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "config.negotiation.JSONOnlyContentNegotiation",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "config.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "NUM_PROXIES": env.int("NUM_PROXIES", 0, minimum=0),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Groundwork API",
    "DESCRIPTION": (
        "REST API of the Groundwork backend. Every error uses one envelope: "
        '`{"error": {"code", "message", "details"}}`.'
    ),
    "VERSION": APP_VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- HTTP security ---------------------------------------------------------------------------
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/api/.*$"
CORS_EXPOSE_HEADERS = [
    "X-Request-ID",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
]
CORS_ALLOW_HEADERS = ["accept", "authorization", "content-type", "x-request-id", "idempotency-key"]
CORS_PREFLIGHT_MAX_AGE = 600

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_HSTS_SECONDS = 31_536_000 if IS_PRODUCTION else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = IS_PRODUCTION
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", False)
if env.bool("USE_X_FORWARDED_PROTO", IS_PRODUCTION):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = IS_PRODUCTION
CSRF_COOKIE_SECURE = IS_PRODUCTION
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS")
CSRF_FAILURE_VIEW = "config.errors.csrf_failure"

# --- Static files, i18n ----------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if IS_PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not IS_PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- File storage (files app) ---------------------------------------------------------------
# local: files under MEDIA_ROOT behind signed, expiring URLs served by the app itself.
# s3 / r2: django-storages' S3Storage; clients upload and download with presigned requests.
STORAGE_PROVIDER = env.choice("STORAGE_PROVIDER", ("local", "s3", "r2"), "local")
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", str(BASE_DIR / "media")))
FILE_MAX_BYTES = env.int("FILE_MAX_BYTES", 100 * 1024 * 1024, minimum=1)
FILE_UPLOAD_URL_EXPIRES = env.int("FILE_UPLOAD_URL_EXPIRES", 900, minimum=1)
FILE_DOWNLOAD_URL_EXPIRES = env.int("FILE_DOWNLOAD_URL_EXPIRES", 300, minimum=1)
for _name, _seconds in (
    ("FILE_UPLOAD_URL_EXPIRES", FILE_UPLOAD_URL_EXPIRES),
    ("FILE_DOWNLOAD_URL_EXPIRES", FILE_DOWNLOAD_URL_EXPIRES),
):
    if _seconds > 604_800:  # the longest a SigV4 presigned request may live
        env.problems.append(f"{_name} must be at most 604800 seconds (7 days).")
# Never text/html, SVG or anything executable: what a browser could run.
DEFAULT_FILE_ALLOWED_CONTENT_TYPES = (
    "image/jpeg", "image/png", "image/gif", "image/webp", "image/avif", "image/heic", "image/heif",
    "application/pdf", "text/plain", "text/csv",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "application/zip", "application/x-zip-compressed", "application/gzip", "application/x-gzip",
    "audio/mpeg", "audio/mp4", "audio/aac", "audio/ogg", "audio/wav", "audio/webm", "audio/flac",
    "video/mp4", "video/webm", "video/quicktime", "video/ogg", "video/mpeg",
)  # fmt: skip
FILE_ALLOWED_CONTENT_TYPES = [
    media_type.lower()
    for media_type in env.list("FILE_ALLOWED_CONTENT_TYPES", DEFAULT_FILE_ALLOWED_CONTENT_TYPES)
]

# S3Storage reads these AWS_* settings; with r2 they are filled from the R2_* variables.
R2_ACCOUNT_ID = env.str("R2_ACCOUNT_ID")
R2_ACCESS_KEY_ID = env.str("R2_ACCESS_KEY_ID")
R2_SECRET_ACCESS_KEY = env.str("R2_SECRET_ACCESS_KEY")
R2_BUCKET_NAME = env.str("R2_BUCKET_NAME")
AWS_S3_SIGNATURE_VERSION = "s3v4"
_storage_missing: list[str] = []
if STORAGE_PROVIDER == "r2":
    AWS_ACCESS_KEY_ID = R2_ACCESS_KEY_ID
    AWS_SECRET_ACCESS_KEY = R2_SECRET_ACCESS_KEY
    AWS_STORAGE_BUCKET_NAME = R2_BUCKET_NAME
    AWS_S3_REGION_NAME: str | None = "auto"
    AWS_S3_ENDPOINT_URL: str | None = f"https://{R2_ACCOUNT_ID}.r2.cloudflarestorage.com"
    _storage_missing = [
        name
        for name, value in (
            ("R2_ACCOUNT_ID", R2_ACCOUNT_ID),
            ("R2_ACCESS_KEY_ID", R2_ACCESS_KEY_ID),
            ("R2_SECRET_ACCESS_KEY", R2_SECRET_ACCESS_KEY),
            ("R2_BUCKET_NAME", R2_BUCKET_NAME),
        )
        if not value
    ]
else:
    AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID")
    AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY")
    AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME")
    AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME") or None
    AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL") or None
if STORAGE_PROVIDER == "s3":
    if not AWS_STORAGE_BUCKET_NAME:
        _storage_missing.append("AWS_STORAGE_BUCKET_NAME")
    # AWS signs with the bucket's region; S3-compatible services behind an endpoint need none.
    if not (AWS_S3_REGION_NAME or AWS_S3_ENDPOINT_URL):
        _storage_missing.append("AWS_S3_REGION_NAME (or AWS_S3_ENDPOINT_URL)")
    # Neither key means boto3's own credential chain (an IAM role, a profile).
    if bool(AWS_ACCESS_KEY_ID) != bool(AWS_SECRET_ACCESS_KEY):
        env.problems.append("Set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither.")
for _name in _storage_missing:
    env.problems.append(f"{_name} is required when STORAGE_PROVIDER={STORAGE_PROVIDER}.")
if STORAGE_PROVIDER != "local":
    STORAGES["default"] = {"BACKEND": "storages.backends.s3.S3Storage"}

# --- Webhooks (webhooks app) -----------------------------------------------------------------
# Processing of a stored event is retried this often with exponential back-off and jitter,
# then the event is left `failed` (staff can process it again from the admin).
WEBHOOK_MAX_RETRIES = env.int("WEBHOOK_MAX_RETRIES", 8, minimum=0)
WEBHOOK_RETRY_BACKOFF_SECONDS = env.int("WEBHOOK_RETRY_BACKOFF_SECONDS", 15, minimum=0)
# Keep it under the broker's visibility timeout: Redis hands longer-delayed tasks out twice.
WEBHOOK_RETRY_BACKOFF_MAX_SECONDS = env.int("WEBHOOK_RETRY_BACKOFF_MAX_SECONDS", 1800, minimum=0)
# Events still waiting (or left `processing`) this long get their task sent again.
WEBHOOK_STALE_AFTER_MINUTES = env.int("WEBHOOK_STALE_AFTER_MINUTES", 15, minimum=1)
if WEBHOOK_STALE_AFTER_MINUTES * 60 <= CELERY_TASK_TIME_LIMIT:
    env.problems.append(
        f"WEBHOOK_STALE_AFTER_MINUTES must be longer than the task time limit "
        f"({CELERY_TASK_TIME_LIMIT} seconds), or running events would be sent again."
    )
if CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= WEBHOOK_RETRY_BACKOFF_MAX_SECONDS:
    env.problems.append(
        "WEBHOOK_RETRY_BACKOFF_MAX_SECONDS must be shorter than the broker visibility timeout "
        f"({CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout']} seconds)."
    )

# Periodic tasks, declared in code; beat's DatabaseScheduler syncs them into its tables.
# Other apps add their entries to this dict in their own blocks.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "webhooks-retry-stale-events": {
        "task": "webhooks.tasks.retry_stale_webhook_events",
        "schedule": 300.0,
    },
}

# --- Billing (billing app) -------------------------------------------------------------------
# Plans and their limits. `billing.selectors.plan_limits` is what other apps read (files: storage,
# ai: tokens); a user without an entitlement that grants access is on `free`. Every limit can be
# overridden by env: BILLING_<PLAN>_AI_TOKENS_PER_MONTH, BILLING_<PLAN>_STORAGE_BYTES and (paid
# plans) BILLING_<PLAN>_RATE_LIMIT, with <PLAN> one of FREE, PRO, ENTERPRISE.
# `prices` (cents per interval) lists what /billing/plans offers for sale: only `pro`, monthly and
# yearly, matching checkout's `plan` monthly|yearly. Once Stripe is configured the prices shown will
# come from its price objects (STRIPE_PRICE_ID_*) and these become the offline fallback.
BILLING_CURRENCY = env.str("BILLING_CURRENCY", "usd").lower()
BILLING_PRICE_MONTHLY_CENTS = env.int("BILLING_PRICE_MONTHLY_CENTS", 1900, minimum=0)
BILLING_PRICE_YEARLY_CENTS = env.int("BILLING_PRICE_YEARLY_CENTS", 19000, minimum=0)
if len(BILLING_CURRENCY) != 3 or not BILLING_CURRENCY.isalpha():
    env.problems.append(
        f"BILLING_CURRENCY must be an ISO 4217 code such as usd (got {BILLING_CURRENCY!r})."
    )
_GIB = 1024**3
_BILLING_PLAN_DEFAULTS = (
    # plan, display name, AI tokens per month, storage bytes, rate limit
    ("free", "Free", 100_000, _GIB, RATE_LIMITS["default"]),
    ("pro", "Pro", 2_000_000, 50 * _GIB, "300/minute"),
    ("enterprise", "Enterprise", 20_000_000, 1024 * _GIB, "1000/minute"),
)
BILLING_PLANS: dict[str, dict[str, Any]] = {
    plan: {
        "name": name,
        "ai_tokens_per_month": env.int(
            f"BILLING_{plan.upper()}_AI_TOKENS_PER_MONTH", tokens, minimum=0
        ),
        "storage_bytes": env.int(f"BILLING_{plan.upper()}_STORAGE_BYTES", storage, minimum=0),
        # Free users get RATE_LIMIT_DEFAULT; paid plans their own rate (config/throttling.py).
        "rate_limit": rate
        if plan == "free"
        else env.rate(f"BILLING_{plan.upper()}_RATE_LIMIT", rate),
        "prices": {},
    }
    for plan, name, tokens, storage, rate in _BILLING_PLAN_DEFAULTS
}
BILLING_PLANS["pro"]["prices"] = {
    "month": BILLING_PRICE_MONTHLY_CENTS,
    "year": BILLING_PRICE_YEARLY_CENTS,
}
# Hourly: entitlements whose period ended are marked expired and their users' plans recomputed.
CELERY_BEAT_SCHEDULE["billing-expire-lapsed-entitlements"] = {
    "task": "billing.tasks.expire_lapsed_entitlements",
    "schedule": 3600.0,
}
# Every minute: usage counted in the cache (billing.usage) is added to the usage_counters table.
CELERY_BEAT_SCHEDULE["billing-flush-usage-counters"] = {
    "task": "billing.tasks.flush_usage_counters",
    "schedule": 60.0,
}

# --- Stripe (billing app) --------------------------------------------------------------------
# Stripe is optional: without STRIPE_SECRET_KEY the Stripe endpoints answer 503, and without
# STRIPE_WEBHOOK_SECRET so does the Stripe webhook. dj-stripe keeps its models (customers,
# subscriptions, prices, products, invoices) in sync; its own webhook views are not mounted.
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET")
STRIPE_PRICE_ID_MONTHLY = env.str("STRIPE_PRICE_ID_MONTHLY")
STRIPE_PRICE_ID_YEARLY = env.str("STRIPE_PRICE_ID_YEARLY")
STRIPE_DEFAULT_API_BASE = "https://api.stripe.com"
STRIPE_API_BASE = env.str("STRIPE_API_BASE", STRIPE_DEFAULT_API_BASE).rstrip("/")
# Pinned, so that Stripe's objects keep the shape the code reads whatever the account's default.
STRIPE_API_VERSION = env.str("STRIPE_API_VERSION", "2026-08-26.dahlia")
STRIPE_TIMEOUT_SECONDS = env.int("STRIPE_TIMEOUT_SECONDS", 10, minimum=1)
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", 2, minimum=0)
# Stripe-Signature timestamps further than this from now, in the past or the future, are refused.
STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300
# Origins (besides CORS_ALLOWED_ORIGINS) that checkout and portal redirect URLs may point at.
BILLING_REDIRECT_ORIGINS = env.list("BILLING_REDIRECT_ORIGINS")
STRIPE_LIVE_MODE = STRIPE_SECRET_KEY.startswith(("sk_live_", "rk_live_"))
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
# The Stripe customer's metadata key that links it to its user (dj-stripe's Customer.subscriber).
DJSTRIPE_SUBSCRIBER_CUSTOMER_KEY = "user_id"
_key_kind, _, _key_rest = STRIPE_SECRET_KEY.partition("_")
_key_mode, _, _key_secret = _key_rest.partition("_")
if STRIPE_SECRET_KEY and not (
    _key_kind in ("sk", "rk")
    and _key_mode in ("test", "live")
    and len(_key_secret) >= 24
    and _key_secret.isascii()
    and _key_secret.isalnum()
):
    env.problems.append("STRIPE_SECRET_KEY must be a secret key: sk_test_... or sk_live_...")
if STRIPE_WEBHOOK_SECRET and not STRIPE_SECRET_KEY:
    env.problems.append(
        "STRIPE_WEBHOOK_SECRET needs STRIPE_SECRET_KEY: events are read back from Stripe's API."
    )
if IS_PRODUCTION and STRIPE_API_BASE != STRIPE_DEFAULT_API_BASE:
    env.problems.append("STRIPE_API_BASE is for local fakes; unset it in production.")
for _origin in BILLING_REDIRECT_ORIGINS:
    _scheme, _, _host = _origin.partition("://")
    if _scheme not in ("http", "https") or not _host or any(c in _host for c in "/?#@\\ "):
        env.problems.append(
            f"BILLING_REDIRECT_ORIGINS must list origins such as https://app.example.com "
            f"(got {_origin!r})."
        )
# Hourly: Stripe events of the last days that never arrived are fetched and processed.
STRIPE_RECONCILE_DAYS = 3
CELERY_BEAT_SCHEDULE["billing-reconcile-stripe-events"] = {
    "task": "billing.tasks.reconcile_stripe_events",
    "schedule": 3600.0,
}

# --- In-app purchases: App Store and Google Play (billing app) ------------------------------------
# Each store is optional: unconfigured, its webhook and its link endpoint answer 503.
# Store products map to plans through IAP_PRODUCT_PLANS (`billing.iap.plan_for_product`).
IAP_PLANS = ("pro", "enterprise")
IAP_PRODUCT_PLANS: dict[str, str] = {}
for _pair in env.list("IAP_PRODUCT_PLANS"):
    _product, _, _plan = _pair.partition("=")
    if not _product.strip() or _plan.strip() not in IAP_PLANS:
        env.problems.append(
            f"IAP_PRODUCT_PLANS must list product_id=plan pairs with plan one of "
            f"{', '.join(IAP_PLANS)} (got {_pair!r})."
        )
        continue
    IAP_PRODUCT_PLANS[_product.strip()] = _plan.strip()

# App Store: signed data (JWS with an x5c chain) must chain to one of APPLE_ROOT_CERTIFICATES and
# carry this bundle id, app id and environment. APPLE_ENVIRONMENT is a comma list: a production
# server usually accepts `Production,Sandbox` (App Review and TestFlight buy in the sandbox).
# `Xcode` and `LocalTesting` data is not signed by Apple: accepted only outside production.
APPLE_ENVIRONMENTS = ("Production", "Sandbox", "Xcode", "LocalTesting")
APPLE_BUNDLE_ID = env.str("APPLE_BUNDLE_ID")
APPLE_APP_ID: int | None = env.int("APPLE_APP_ID", 0, minimum=0) or None
APPLE_ENVIRONMENT: list[str] = env.list(
    "APPLE_ENVIRONMENT", ["Production"] if IS_PRODUCTION else ["Sandbox"]
)
APPLE_ROOT_CERTIFICATES: list[str] = env.list("APPLE_ROOT_CERTIFICATES")
for _apple_env in APPLE_ENVIRONMENT:
    if _apple_env not in APPLE_ENVIRONMENTS:
        env.problems.append(
            f"APPLE_ENVIRONMENT must list values among {', '.join(APPLE_ENVIRONMENTS)} "
            f"(got {_apple_env!r})."
        )
    elif IS_PRODUCTION and _apple_env in ("Xcode", "LocalTesting"):
        env.problems.append(
            f"APPLE_ENVIRONMENT={_apple_env} accepts unsigned data: not allowed in production."
        )
for _certificate in APPLE_ROOT_CERTIFICATES:
    if not Path(_certificate).is_file():
        env.problems.append(f"APPLE_ROOT_CERTIFICATES: {_certificate} is not a readable file.")
if APPLE_BUNDLE_ID and not APPLE_ROOT_CERTIFICATES:
    env.problems.append("APPLE_BUNDLE_ID needs APPLE_ROOT_CERTIFICATES (Apple's root CA files).")
if APPLE_BUNDLE_ID and "Production" in APPLE_ENVIRONMENT and APPLE_APP_ID is None:
    env.problems.append("APPLE_ENVIRONMENT=Production needs APPLE_APP_ID (the app's Apple ID).")

# Google Play: Real-time developer notifications arrive as Pub/Sub pushes whose OIDC token must
# be signed by Google for GOOGLE_PUBSUB_AUDIENCE and GOOGLE_PUBSUB_SERVICE_ACCOUNT_EMAIL; the
# purchase itself is always read from the Play Developer API with the service account's key.
GOOGLE_PLAY_PACKAGE_NAME = env.str("GOOGLE_PLAY_PACKAGE_NAME")
GOOGLE_PLAY_SERVICE_ACCOUNT_INFO: dict[str, Any] | None = None
if env.is_set("GOOGLE_PLAY_SERVICE_ACCOUNT_JSON"):
    _raw_key = env.str("GOOGLE_PLAY_SERVICE_ACCOUNT_JSON")
    try:
        _key_text = _raw_key if _raw_key.startswith("{") else base64.b64decode(_raw_key).decode()
        GOOGLE_PLAY_SERVICE_ACCOUNT_INFO = json.loads(_key_text)
    except (ValueError, UnicodeDecodeError):
        GOOGLE_PLAY_SERVICE_ACCOUNT_INFO = None
    if not isinstance(GOOGLE_PLAY_SERVICE_ACCOUNT_INFO, dict) or not {
        "client_email",
        "private_key",
        "token_uri",
    } <= set(GOOGLE_PLAY_SERVICE_ACCOUNT_INFO):
        GOOGLE_PLAY_SERVICE_ACCOUNT_INFO = None
        env.problems.append(
            "GOOGLE_PLAY_SERVICE_ACCOUNT_JSON must be a service account key file's JSON "
            "(raw or base64) with client_email, private_key and token_uri."
        )
GOOGLE_PUBSUB_AUDIENCE = env.str("GOOGLE_PUBSUB_AUDIENCE")
GOOGLE_PUBSUB_SERVICE_ACCOUNT_EMAIL = env.str("GOOGLE_PUBSUB_SERVICE_ACCOUNT_EMAIL")
GOOGLE_DEFAULT_PUBSUB_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_PUBSUB_CERTS_URL = env.str("GOOGLE_PUBSUB_CERTS_URL", GOOGLE_DEFAULT_PUBSUB_CERTS_URL)
GOOGLE_DEFAULT_PLAY_API_BASE = "https://androidpublisher.googleapis.com"
GOOGLE_PLAY_API_BASE = env.str("GOOGLE_PLAY_API_BASE", GOOGLE_DEFAULT_PLAY_API_BASE).rstrip("/")
GOOGLE_PLAY_TIMEOUT_SECONDS = env.int("GOOGLE_PLAY_TIMEOUT_SECONDS", 10, minimum=1)
if (GOOGLE_PUBSUB_AUDIENCE or GOOGLE_PUBSUB_SERVICE_ACCOUNT_EMAIL) and not (
    GOOGLE_PUBSUB_AUDIENCE and GOOGLE_PUBSUB_SERVICE_ACCOUNT_EMAIL
):
    env.problems.append(
        "GOOGLE_PUBSUB_AUDIENCE and GOOGLE_PUBSUB_SERVICE_ACCOUNT_EMAIL go together: "
        "a push token is checked against both."
    )
if IS_PRODUCTION and GOOGLE_PLAY_API_BASE != GOOGLE_DEFAULT_PLAY_API_BASE:
    env.problems.append("GOOGLE_PLAY_API_BASE is for local fakes; unset it in production.")
if IS_PRODUCTION and GOOGLE_PUBSUB_CERTS_URL != GOOGLE_DEFAULT_PUBSUB_CERTS_URL:
    env.problems.append("GOOGLE_PUBSUB_CERTS_URL is for local fakes; unset it in production.")

# --- Identity-provider webhooks (accounts app) -----------------------------------------------
# Clerk signs with svix: CLERK_WEBHOOK_SECRET is the endpoint's `whsec_<base64>` secret. Supabase
# database webhooks send `Authorization: Bearer SUPABASE_WEBHOOK_SECRET`. Unset: 503.
CLERK_WEBHOOK_SECRET = env.str("CLERK_WEBHOOK_SECRET")
SUPABASE_WEBHOOK_SECRET = env.str("SUPABASE_WEBHOOK_SECRET")
# Svix timestamps further than this from now, in the past or the future, are refused.
CLERK_WEBHOOK_TOLERANCE_SECONDS = 300
if CLERK_WEBHOOK_SECRET:
    try:
        if not CLERK_WEBHOOK_SECRET.startswith("whsec_") or not base64.b64decode(
            CLERK_WEBHOOK_SECRET.removeprefix("whsec_"), validate=True
        ):
            raise ValueError(CLERK_WEBHOOK_SECRET)
    except ValueError:
        env.problems.append("CLERK_WEBHOOK_SECRET must be Clerk's signing secret: whsec_<base64>.")
if SUPABASE_WEBHOOK_SECRET and len(SUPABASE_WEBHOOK_SECRET) < 16:
    env.problems.append("SUPABASE_WEBHOOK_SECRET must be at least 16 characters.")

# --- AI gateway (ai app) ----------------------------------------------------------------------
# Providers: openai (also any OpenAI-compatible server through OPENAI_BASE_URL), anthropic, gemini
# (Google's OpenAI-compatible endpoint) and echo (offline, deterministic). A provider is
# configured when its API key is set; echo is configured outside production, or in production
# only when AI_DEFAULT_PROVIDER or AI_FALLBACK_PROVIDERS names it.
AI_PROVIDERS = ("openai", "anthropic", "gemini", "echo")
OPENAI_API_KEY = env.str("OPENAI_API_KEY")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL").rstrip("/")
OPENAI_MODEL = env.str("OPENAI_MODEL", "gpt-4o-mini")
ANTHROPIC_API_KEY = env.str("ANTHROPIC_API_KEY")
ANTHROPIC_BASE_URL = env.str("ANTHROPIC_BASE_URL").rstrip("/")
ANTHROPIC_MODEL = env.str("ANTHROPIC_MODEL", "claude-3-5-haiku-latest")
GEMINI_API_KEY = env.str("GEMINI_API_KEY")
GEMINI_BASE_URL = env.str(
    "GEMINI_BASE_URL", "https://generativelanguage.googleapis.com/v1beta/openai"
).rstrip("/")
GEMINI_MODEL = env.str("GEMINI_MODEL", "gemini-2.0-flash")
ECHO_MODEL = "echo-1"
AI_DEFAULT_PROVIDER = env.choice(
    "AI_DEFAULT_PROVIDER", AI_PROVIDERS, "openai" if IS_PRODUCTION else "echo"
)
AI_FALLBACK_PROVIDERS: list[str] = env.list("AI_FALLBACK_PROVIDERS")
for _provider in AI_FALLBACK_PROVIDERS:
    if _provider not in AI_PROVIDERS:
        env.problems.append(
            f"AI_FALLBACK_PROVIDERS must list providers among {', '.join(AI_PROVIDERS)} "
            f"(got {_provider!r})."
        )
AI_ECHO_ENABLED = not IS_PRODUCTION or "echo" in (AI_DEFAULT_PROVIDER, *AI_FALLBACK_PROVIDERS)
# The model of each provider (what a request naming no model, or another provider's model, gets).
AI_PROVIDER_MODELS = {
    "openai": OPENAI_MODEL,
    "anthropic": ANTHROPIC_MODEL,
    "gemini": GEMINI_MODEL,
    "echo": ECHO_MODEL,
}
AI_DEFAULT_MODEL = env.str("AI_DEFAULT_MODEL", AI_PROVIDER_MODELS[AI_DEFAULT_PROVIDER])
AI_PROVIDER_MODELS[AI_DEFAULT_PROVIDER] = AI_DEFAULT_MODEL
# Upper bound of `max_tokens` a request may ask for; requests default to min(1024, this).
AI_MAX_TOKENS = env.int("AI_MAX_TOKENS", 4096, minimum=1)
AI_DEFAULT_MAX_TOKENS = min(1024, AI_MAX_TOKENS)
# Per call: seconds to wait for a provider's answer (for a stream: for each chunk).
AI_TIMEOUT_SECONDS = env.int("AI_TIMEOUT_SECONDS", 60, minimum=1)
# Circuit breaker per provider (state in the cache, shared by every worker): after this many
# failures in a row the provider is skipped for AI_BREAKER_RESET_SECONDS, then one call probes it.
AI_BREAKER_FAILURES = env.int("AI_BREAKER_FAILURES", 5, minimum=1)
AI_BREAKER_RESET_SECONDS = env.int("AI_BREAKER_RESET_SECONDS", 30, minimum=1)
# /ai/chat/routed: complexity -> "provider" or "provider:model" (AI_ROUTE_<COMPLEXITY>).
AI_COMPLEXITIES = ("simple", "moderate", "complex", "search")
AI_ROUTES: dict[str, tuple[str, str | None]] = {}
for _complexity in AI_COMPLEXITIES:
    _route = env.str(f"AI_ROUTE_{_complexity.upper()}", AI_DEFAULT_PROVIDER)
    _route_provider, _, _route_model = _route.partition(":")
    if _route_provider not in AI_PROVIDERS:
        env.problems.append(
            f"AI_ROUTE_{_complexity.upper()} must be provider or provider:model with provider "
            f"one of {', '.join(AI_PROVIDERS)} (got {_route!r})."
        )
        _route_provider, _route_model = AI_DEFAULT_PROVIDER, ""
    AI_ROUTES[_complexity] = (_route_provider, _route_model or None)
# USD per million tokens (prompt, completion) for the usage rows' cost estimate. A model missing
# here costs 0. Extend or override with AI_MODEL_PRICES, JSON {"model": [prompt, completion]}.
AI_MODEL_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "claude-3-5-haiku-latest": (0.80, 4.00),
    "claude-sonnet-4-0": (3.00, 15.00),
    "gemini-2.0-flash": (0.10, 0.40),
    "gemini-2.5-pro": (1.25, 10.00),
    "echo-1": (0.0, 0.0),
}
if env.is_set("AI_MODEL_PRICES"):
    try:
        _prices = json.loads(env.str("AI_MODEL_PRICES"))
        AI_MODEL_PRICES.update(
            {str(model): (float(pair[0]), float(pair[1])) for model, pair in _prices.items()}
        )
    except (ValueError, TypeError, AttributeError, IndexError, KeyError):
        env.problems.append(
            'AI_MODEL_PRICES must be JSON such as {"gpt-4o": [2.5, 10]} (USD per million '
            "prompt and completion tokens)."
        )
if IS_PRODUCTION and AI_DEFAULT_PROVIDER != "echo":
    _keys = {"openai": OPENAI_API_KEY, "anthropic": ANTHROPIC_API_KEY, "gemini": GEMINI_API_KEY}
    if not _keys[AI_DEFAULT_PROVIDER] and any(_keys.values()):
        env.problems.append(
            f"AI_DEFAULT_PROVIDER={AI_DEFAULT_PROVIDER} has no API key "
            f"({AI_DEFAULT_PROVIDER.upper()}_API_KEY) while another provider has one."
        )

# --- Email (accounts app: outbox, templates/emails) ----------------------------------------------
# Every email goes through the outbox (`accounts.emails.email_send`): a row, then a Celery task
# that sends it through EMAIL_PROVIDER's backend (django-anymail for the API providers). SES uses
# boto3's usual credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or the instance's role).
EMAIL_PROVIDERS = {
    "console": "django.core.mail.backends.console.EmailBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "resend": "anymail.backends.resend.EmailBackend",
    "sendgrid": "anymail.backends.sendgrid.EmailBackend",
    "postmark": "anymail.backends.postmark.EmailBackend",
    "ses": "anymail.backends.amazon_ses.EmailBackend",
}
EMAIL_PROVIDER = env.choice("EMAIL_PROVIDER", tuple(EMAIL_PROVIDERS), "console")
EMAIL_BACKEND = EMAIL_PROVIDERS[EMAIL_PROVIDER]
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "Groundwork <noreply@localhost>")
SERVER_EMAIL = env.str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
EMAIL_PRODUCT_NAME = env.str("EMAIL_PRODUCT_NAME", "Groundwork")
EMAIL_HOST = env.str("EMAIL_HOST", "localhost")
EMAIL_PORT = env.int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD")
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", False)
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", not EMAIL_USE_SSL)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", 15, minimum=1)
# Sending attempts after the first, with exponential back-off and jitter; then the row is failed.
EMAIL_SEND_MAX_RETRIES = env.int("EMAIL_SEND_MAX_RETRIES", 5, minimum=0)
# The daily usage report's recipients; empty: every active staff user with an email.
STAFF_REPORT_EMAILS: list[str] = env.list("STAFF_REPORT_EMAILS")
# A user may request one data export per this many seconds.
EXPORT_MIN_INTERVAL_SECONDS = env.int("EXPORT_MIN_INTERVAL_SECONDS", 600, minimum=0)
AWS_SES_REGION = env.str("AWS_SES_REGION", env.str("AWS_REGION", env.str("AWS_DEFAULT_REGION")))
ANYMAIL: dict[str, Any] = {
    "RESEND_API_KEY": env.str("RESEND_API_KEY"),
    "SENDGRID_API_KEY": env.str("SENDGRID_API_KEY"),
    "POSTMARK_SERVER_TOKEN": env.str("POSTMARK_SERVER_TOKEN"),
    "AMAZON_SES_CLIENT_PARAMS": {"region_name": AWS_SES_REGION} if AWS_SES_REGION else {},
    "REQUESTS_TIMEOUT": EMAIL_TIMEOUT,
}
# Local fakes of the API providers (anymail's <ESP>_API_URL); never in production.
for _esp in ("RESEND", "SENDGRID", "POSTMARK"):
    if env.is_set(f"{_esp}_API_URL"):
        ANYMAIL[f"{_esp}_API_URL"] = env.str(f"{_esp}_API_URL")
        if IS_PRODUCTION:
            env.problems.append(f"{_esp}_API_URL is for local fakes; unset it in production.")
_email_required = {
    "resend": [("RESEND_API_KEY", ANYMAIL["RESEND_API_KEY"])],
    "sendgrid": [("SENDGRID_API_KEY", ANYMAIL["SENDGRID_API_KEY"])],
    "postmark": [("POSTMARK_SERVER_TOKEN", ANYMAIL["POSTMARK_SERVER_TOKEN"])],
    "ses": [("AWS_SES_REGION (or AWS_REGION)", AWS_SES_REGION)],
    "smtp": [("EMAIL_HOST", env.str("EMAIL_HOST"))],
}.get(EMAIL_PROVIDER, [])
for _name, _value in _email_required:
    if not _value:
        env.problems.append(f"EMAIL_PROVIDER={EMAIL_PROVIDER} needs {_name}.")
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    env.problems.append("EMAIL_USE_TLS and EMAIL_USE_SSL exclude each other: set one of them.")
if IS_PRODUCTION and EMAIL_PROVIDER != "console" and "@localhost" in DEFAULT_FROM_EMAIL:
    env.problems.append("DEFAULT_FROM_EMAIL must be an address of your domain in production.")
for _address in STAFF_REPORT_EMAILS:
    if "@" not in _address:
        env.problems.append(f"STAFF_REPORT_EMAILS must list email addresses (got {_address!r}).")

# --- Scheduled jobs and task results (config/celery.py, config/beat.py) ---------------------------
# Results of tasks run by a worker (none when tasks run eagerly) are stored in the database with
# their name, arguments and worker, shown in the admin (failed ones can be run again) and deleted
# after CELERY_RESULT_EXPIRES_DAYS by `celery.backend_cleanup`.
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_RESULT_EXPIRES = env.int("CELERY_RESULT_EXPIRES_DAYS", 7, minimum=1) * 86_400
# Weekly clean-ups: pending uploads whose upload URL expired more than FILE_PENDING_PURGE_DAYS ago
# (rows and any stored bytes), and processed or ignored webhook events older than
# WEBHOOK_RETENTION_DAYS (failed ones are kept for staff).
FILE_PENDING_PURGE_DAYS = env.int("FILE_PENDING_PURGE_DAYS", 7, minimum=1)
WEBHOOK_RETENTION_DAYS = env.int("WEBHOOK_RETENTION_DAYS", 90, minimum=1)
CELERY_BEAT_SCHEDULE.update(
    {
        "celery.backend_cleanup": {
            "task": "celery.backend_cleanup",
            "schedule": crontab(minute=0, hour=4),
            "options": {"expire_seconds": 12 * 3600},
        },
        "files-purge-expired-uploads": {
            "task": "files.tasks.purge_expired_uploads",
            "schedule": crontab(minute=0, hour=3, day_of_week="sun"),
        },
        "webhooks-purge-old-events": {
            "task": "webhooks.tasks.purge_old_webhook_events",
            "schedule": crontab(minute=30, hour=3, day_of_week="sun"),
        },
        "billing-send-daily-usage-report": {
            "task": "billing.tasks.send_daily_usage_report",
            "schedule": crontab(minute=0, hour=9),
        },
    }
)

# --- Metrics, errors and traces (config/metrics.py, config/observability.py) --------------------
# GET /api/v1/public/metrics: open when METRICS_TOKEN is unset, else `Authorization: Bearer <it>`.
METRICS_TOKEN = env.str("METRICS_TOKEN")
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    env.problems.append("METRICS_TOKEN must be at least 16 characters.")
# Several processes (gunicorn workers) add their metrics up through files in this directory
# (prometheus_client reads it from the environment itself): it must exist and be emptied before
# the server starts.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR")
if PROMETHEUS_MULTIPROC_DIR and not Path(PROMETHEUS_MULTIPROC_DIR).is_dir():
    env.problems.append(f"PROMETHEUS_MULTIPROC_DIR={PROMETHEUS_MULTIPROC_DIR} is not a directory.")
# Errors to Sentry while SENTRY_DSN is set.
SENTRY_DSN = env.str("SENTRY_DSN")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", ENVIRONMENT)
SENTRY_RELEASE = env.str("SENTRY_RELEASE", APP_VERSION)
# Traces (OTLP over HTTP, e.g. http://otel-collector:4318) while the endpoint is set.
OTEL_EXPORTER_OTLP_ENDPOINT = env.str("OTEL_EXPORTER_OTLP_ENDPOINT").rstrip("/")
OTEL_SERVICE_NAME = env.str("OTEL_SERVICE_NAME", "groundwork")
for _name, _url in (
    ("SENTRY_DSN", SENTRY_DSN),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", OTEL_EXPORTER_OTLP_ENDPOINT),
):
    if _url and not _url.startswith(("http://", "https://")):
        env.problems.append(f"{_name} must be an http:// or https:// URL.")

# --- Logging ---------------------------------------------------------------------------------
LOG_LEVEL = env.choice("LOG_LEVEL", ("debug", "info", "warning", "error", "critical"), "info")
LOG_FORMAT = env.choice("LOG_FORMAT", ("json", "console"), "json" if IS_PRODUCTION else "console")
LOGGING = build_logging(level=LOG_LEVEL.upper(), json=LOG_FORMAT == "json")

# --- Production safety -----------------------------------------------------------------------
if IS_PRODUCTION:
    if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY == INSECURE_SECRET_KEY:
        env.problems.append("SECRET_KEY is missing or weak: use at least 50 random characters.")
    if DEBUG:
        env.problems.append("DEBUG must be false in production.")
    if not ALLOWED_HOSTS:
        env.problems.append("ALLOWED_HOSTS must list the host names the API is served on.")
    if DATABASE_IS_SQLITE:
        env.problems.append("DATABASE_URL must point at PostgreSQL (SQLite is for development).")
    if not REDIS_URL:
        env.problems.append("REDIS_URL is required (cache, shared rate limits, Celery broker).")
    if not (AUTH_JWT_SECRET or AUTH_JWKS_URL):
        env.problems.append("Set AUTH_JWT_SECRET or AUTH_JWKS_URL so API tokens can be verified.")
    elif AUTH_JWT_SECRET and (len(AUTH_JWT_SECRET) < 32 or AUTH_JWT_SECRET == INSECURE_JWT_SECRET):
        env.problems.append("AUTH_JWT_SECRET is weak: use at least 32 random characters.")

env.raise_if_invalid(environment=ENVIRONMENT)
