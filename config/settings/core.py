"""Core settings: the environment reader, the environment, secrets, apps, middleware, templates,
static files and i18n.

The one `EnvReader` (`env`) is created here; every other settings module imports it from here, so
the environment and `.env` are read once and every problem lands in one list.
"""

from __future__ import annotations

from pathlib import Path

from config.env import EnvReader

# The project root: config/settings/core.py -> config/settings -> config -> root.
BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = EnvReader(env_file=BASE_DIR / ".env")

# --- Environment -----------------------------------------------------------------------------
ENVIRONMENT = env.choice("ENVIRONMENT", ("local", "test", "staging", "production"), "local")
# Production-only behaviours (the default AI provider, API docs off, HSTS, production store
# environments) follow IS_PRODUCTION. Everything about trust (built-in secrets, DEBUG, hosts, the
# database and Redis, token checks, open metrics) follows IS_DEPLOYED: a staging deployment is
# reachable from the internet too, so only `local` and `test` get the development defaults.
IS_PRODUCTION = ENVIRONMENT == "production"
IS_DEPLOYED = ENVIRONMENT in ("staging", "production")
APP_VERSION = env.str("APP_VERSION", "0.1.0")

# Development-only defaults (local and test); staging and production refuse to start with them.
INSECURE_SECRET_KEY = "local-development-secret-key-never-use-in-production-0123456789"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", "" if IS_DEPLOYED else INSECURE_SECRET_KEY)
DEBUG = env.bool("DEBUG", ENVIRONMENT == "local")
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", () if IS_DEPLOYED else ("localhost", "127.0.0.1", "[::1]", "testserver")
)
if IS_DEPLOYED:
    if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY == INSECURE_SECRET_KEY:
        env.problems.append("SECRET_KEY is missing or weak: use at least 50 random characters.")
    if DEBUG:
        env.problems.append(f"DEBUG must be false in {ENVIRONMENT}.")
    if not ALLOWED_HOSTS:
        env.problems.append("ALLOWED_HOSTS must list the host names the API is served on.")

# --- Applications ----------------------------------------------------------------------------
INSTALLED_APPS = [
    # First: its runserver serves HTTP and the WebSocket on one port (ASGI_APPLICATION). Not
    # where the app is deployed: gunicorn and uvicorn serve it there, and daphne (with Twisted)
    # would cost every process about 13 MiB.
    *([] if IS_DEPLOYED else ["daphne"]),
    "console.apps.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "axes",
    "django_celery_beat",
    "djstripe",
    "config",
    "audit",
    "notifications",
    "usage",
    "webhooks",
    "realtime",
    "accounts",
    "billing",
    "projects",
    "files",
    "ai",
    "flags",
    "console",
    "django_celery_results",
    "anymail",
    "django_prometheus",
]

MIDDLEWARE = [
    # First and last: request counts and latency including every other middleware (the series
    # of django-prometheus's middleware that the dashboards read, config.metrics.HttpMetrics).
    "config.metrics.MetricsBeforeMiddleware",
    # First, so every response (CORS preflights included) carries X-Request-ID and is logged.
    "config.middleware.RequestIdMiddleware",
    "config.middleware.AccessLogMiddleware",
    # Outside CORS, so preflights and every early error carry the security headers too.
    "config.middleware.SecurityHeadersMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Outside the error envelope: a client locked out of the admin's sign-in gets an HTML page
    # (accounts.backends.lockout_response), not JSON.
    "axes.middleware.AxesMiddleware",
    "config.errors.ErrorEnvelopeMiddleware",
    "config.middleware.BodySizeLimitMiddleware",
    "config.middleware.QueryStringMiddleware",
    "config.throttling.RateLimitHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # PAGE_MIDDLEWARE (below) for pages; the JSON API skips it.
    "config.middleware.PageMiddleware",
    # Counts authenticated /api/v1/app/ requests (usage metric api_requests) after the response.
    "usage.middleware.UsageMiddleware",
    "config.metrics.MetricsAfterMiddleware",
]

# What pages need and the JSON API does not: run by config.middleware.PageMiddleware, in this
# order, at its place in MIDDLEWARE, for every request outside /api/v1/app/ and /api/v1/public/.
PAGE_MIDDLEWARE = [
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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

# --- Static files, i18n ----------------------------------------------------------------------
# The static files' storage backend is in STORAGES (settings/storage.py).
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = not IS_PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
