"""Authentication settings: the user model, staff sign-in, API tokens (JWT: secret or JWKS, with
Supabase and Clerk presets) and the identity providers' webhooks (accounts app)."""

from __future__ import annotations

from config.env import is_base64
from config.settings.core import ENVIRONMENT, IS_DEPLOYED, env

# --- Authentication --------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.StaffEmailBackend"]
# Staff sign in with their email; API users are identified by the provider's subject, and two
# subjects may share an email, so the email is not unique (the backend above handles that).
SILENCED_SYSTEM_CHECKS = [
    "auth.W004",
    # Sessions, authentication, messages, CSRF and framing run for pages only, from
    # PAGE_MIDDLEWARE (config.middleware.PageMiddleware); config.middleware.check_page_middleware
    # checks them there instead of in MIDDLEWARE.
    "admin.E408",
    "admin.E409",
    "admin.E410",
    "security.W002",
    "security.W003",
]

# Development-only default (local and test, while no JWKS is configured): `manage.py devtoken`
# signs with it. It is public, so staging and production have no default at all.
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

AUTH_JWKS_URL = env.str("AUTH_JWKS_URL", _preset_jwks)
# HS256 tokens are accepted only while this is set. Outside staging and production, with no
# identity provider configured (no AUTH_JWKS_URL), the development secret stands in so the project
# runs with no configuration; once a JWKS is configured, HS256 needs AUTH_JWT_SECRET set explicitly.
AUTH_JWT_SECRET = env.str(
    "AUTH_JWT_SECRET", "" if IS_DEPLOYED or AUTH_JWKS_URL else INSECURE_JWT_SECRET
)
AUTH_ISSUER = env.str("AUTH_ISSUER", _preset_issuer)
AUTH_AUDIENCE = env.str("AUTH_AUDIENCE", _preset_audience)
AUTH_LEEWAY_SECONDS = env.int("AUTH_LEEWAY_SECONDS", 30, minimum=0)
AUTH_AUTHORIZED_PARTIES = env.list("AUTH_AUTHORIZED_PARTIES")
AUTH_JWKS_CACHE_SECONDS = env.int("AUTH_JWKS_CACHE_SECONDS", 3600, minimum=60)
AUTH_JWKS_MIN_REFRESH_SECONDS = env.int("AUTH_JWKS_MIN_REFRESH_SECONDS", 60, minimum=1)
AUTH_JWKS_TIMEOUT_SECONDS = env.int("AUTH_JWKS_TIMEOUT_SECONDS", 5, minimum=1)
# Requests with a Bearer token that fails verification, per client IP: once over, every Bearer
# request from that IP is answered 429 without verifying until the window ends.
RATE_LIMIT_AUTH_FAILURES = env.rate("RATE_LIMIT_AUTH_FAILURES", "30/minute")
# A token's `email` counts as verified unless the token says `email_verified: false`, or the
# address comes only from `user_metadata` (which the user can edit). With this true, only an
# explicit `email_verified: true` does. An unverified email is never mailed nor sent to Stripe.
AUTH_REQUIRE_EMAIL_VERIFIED = env.bool("AUTH_REQUIRE_EMAIL_VERIFIED", False)
# The `iss` of the impersonation tokens staff get in the console (accounts.impersonation): tokens
# with it are verified with a key derived from SECRET_KEY, never with the identity provider's.
IMPERSONATION_TOKEN_ISSUER = env.str("IMPERSONATION_TOKEN_ISSUER", "groundwork-console")
if not IMPERSONATION_TOKEN_ISSUER:
    env.problems.append("IMPERSONATION_TOKEN_ISSUER must not be empty.")
elif IMPERSONATION_TOKEN_ISSUER == AUTH_ISSUER:
    env.problems.append(
        "IMPERSONATION_TOKEN_ISSUER must differ from AUTH_ISSUER: it tells the console's "
        "impersonation tokens apart from the identity provider's."
    )
# last_login_at is refreshed at most this often per user.
AUTH_LOGIN_REFRESH_SECONDS = 3600
if IS_DEPLOYED:
    if not (AUTH_JWT_SECRET or AUTH_JWKS_URL):
        env.problems.append("Set AUTH_JWT_SECRET or AUTH_JWKS_URL so API tokens can be verified.")
    elif AUTH_JWT_SECRET and (len(AUTH_JWT_SECRET) < 32 or AUTH_JWT_SECRET == INSECURE_JWT_SECRET):
        env.problems.append("AUTH_JWT_SECRET is weak: use at least 32 random characters.")
    # A shared identity provider signs the tokens of every app it serves with the same keys: the
    # issuer and the audience (or Clerk's authorized parties) tell ours apart.
    if AUTH_JWKS_URL and not AUTH_ISSUER:
        env.problems.append(
            f"AUTH_ISSUER is required with AUTH_JWKS_URL in {ENVIRONMENT} (or set SUPABASE_URL "
            "or CLERK_ISSUER_URL)."
        )
    if AUTH_JWKS_URL and not (AUTH_AUDIENCE or AUTH_AUTHORIZED_PARTIES):
        env.problems.append(
            f"AUTH_AUDIENCE or AUTH_AUTHORIZED_PARTIES is required with AUTH_JWKS_URL in "
            f"{ENVIRONMENT}, so tokens issued for other apps are refused."
        )

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
