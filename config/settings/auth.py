"""Authentication settings: the user model, staff sign-in, API tokens (JWT: secret or JWKS, with
Supabase and Clerk presets) and the identity providers' webhooks (accounts app)."""

from __future__ import annotations

from config.env import is_base64
from config.settings.core import IS_PRODUCTION, env

# --- Authentication --------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.StaffEmailBackend"]
# Staff sign in with their email; API users are identified by the provider's subject, and two
# subjects may share an email, so the email is not unique (the backend above handles that).
SILENCED_SYSTEM_CHECKS = ["auth.W004"]

# Development-only default; production refuses to start with it.
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
if IS_PRODUCTION:
    if not (AUTH_JWT_SECRET or AUTH_JWKS_URL):
        env.problems.append("Set AUTH_JWT_SECRET or AUTH_JWKS_URL so API tokens can be verified.")
    elif AUTH_JWT_SECRET and (len(AUTH_JWT_SECRET) < 32 or AUTH_JWT_SECRET == INSECURE_JWT_SECRET):
        env.problems.append("AUTH_JWT_SECRET is weak: use at least 32 random characters.")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Identity-provider webhooks (accounts app) -----------------------------------------------
# Clerk signs with svix: CLERK_WEBHOOK_SECRET is the endpoint's `whsec_<base64>` secret. Supabase
# database webhooks send `Authorization: Bearer SUPABASE_WEBHOOK_SECRET`. Unset: 503.
CLERK_WEBHOOK_SECRET = env.str("CLERK_WEBHOOK_SECRET")
SUPABASE_WEBHOOK_SECRET = env.str("SUPABASE_WEBHOOK_SECRET")
# Svix timestamps further than this from now, in the past or the future, are refused.
CLERK_WEBHOOK_TOLERANCE_SECONDS = 300
if CLERK_WEBHOOK_SECRET and not (
    CLERK_WEBHOOK_SECRET.startswith("whsec_")
    and is_base64(CLERK_WEBHOOK_SECRET.removeprefix("whsec_"))
):
    env.problems.append("CLERK_WEBHOOK_SECRET must be Clerk's signing secret: whsec_<base64>.")
if SUPABASE_WEBHOOK_SECRET and len(SUPABASE_WEBHOOK_SECRET) < 16:
    env.problems.append("SUPABASE_WEBHOOK_SECRET must be at least 16 characters.")
