"""Staff sign-in settings: the lockout of the admin's password form after repeated failures
(django-axes; its hooks are in accounts/backends.py), and sign-in through the company's OIDC
provider (mozilla-django-oidc; accounts/sso.py), below.

Failures are counted per account and per client address, each on its own: after
STAFF_LOGIN_FAILURE_LIMIT failures within STAFF_LOGIN_COOLOFF_MINUTES, that account (from any
address) and that address (for any account) are refused without checking the password until the
cool-off has passed. Attempts are kept in the database (axes' AccessAttempt, shown in the admin,
where staff can delete them to unlock early), so every process sees the same counts with or
without Redis, and a Redis outage does not open or close the door.
"""

from __future__ import annotations

from datetime import timedelta

from config.settings.auth import AUTHENTICATION_BACKENDS as _BACKENDS
from config.settings.core import ENVIRONMENT, IS_DEPLOYED, IS_PRODUCTION, env

# Axes' backend goes first: it refuses a locked-out client before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", *_BACKENDS]

AXES_ENABLED = True
# No start-up banner in every process's log.
AXES_VERBOSE = False
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("STAFF_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("STAFF_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = "accounts.backends.lockout_parameters"
# Attempts refused during a lockout are not counted again: the lockout ends one cool-off after
# it started, so an attacker who keeps knocking cannot keep a staff member out for ever.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# A success does not wipe the failures: it would clear the address's count too, letting anyone
# with one staff account reset it between guesses at another.
AXES_RESET_ON_SUCCESS = False
# The admin's login form posts `username` (an email, matched case-insensitively).
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "accounts.backends.sign_in_username"
# The same client address as the per-IP rate limits (NUM_PROXIES, settings/api.py).
AXES_CLIENT_IP_CALLABLE = "accounts.backends.client_ip_address"
AXES_LOCKOUT_CALLABLE = "accounts.backends.lockout_response"
# Sign-ins (successful, failed, locked out) are in the audit log (audit.AuditEvent).
AXES_DISABLE_ACCESS_LOG = True
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "csrfmiddlewaretoken"]

# The staff dashboard (the admin's index, console/dashboard.py) keeps its figures this long in the
# cache; its refresh link recomputes them at once. 0: computed on every view.
DASHBOARD_CACHE_SECONDS = env.int("DASHBOARD_CACHE_SECONDS", 60, minimum=0)

# --- Staff sign-in through the company's OIDC provider (mozilla-django-oidc; accounts/sso.py) ---
# Staff click "Sign in with <STAFF_SSO_PROVIDER_NAME>" on the admin's login page and come back
# through the code flow (/oidc/authenticate/ -> the provider -> /oidc/callback/). Only verified
# emails of STAFF_SSO_ALLOWED_DOMAINS get in; their Django groups (those named in
# STAFF_SSO_GROUP_MAP) and superuser status follow the provider's groups claim at every sign-in.
OIDC_RP_CLIENT_ID = env.str("OIDC_RP_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env.str("OIDC_RP_CLIENT_SECRET")
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("OIDC_OP_AUTHORIZATION_ENDPOINT")
OIDC_OP_TOKEN_ENDPOINT = env.str("OIDC_OP_TOKEN_ENDPOINT")
OIDC_OP_USER_ENDPOINT = env.str("OIDC_OP_USER_ENDPOINT")
OIDC_OP_JWKS_ENDPOINT = env.str("OIDC_OP_JWKS_ENDPOINT")
OIDC_RP_SIGN_ALGO = env.str("OIDC_RP_SIGN_ALGO", "RS256").upper()
OIDC_RP_SCOPES = env.str("OIDC_RP_SCOPES", "openid email profile")
STAFF_SSO_ALLOWED_DOMAINS = [
    domain.lower().lstrip("@") for domain in env.list("STAFF_SSO_ALLOWED_DOMAINS")
]
STAFF_SSO_GROUPS_CLAIM = env.str("STAFF_SSO_GROUPS_CLAIM", "groups")
STAFF_SSO_SUPERUSER_GROUPS = env.list("STAFF_SSO_SUPERUSER_GROUPS")
STAFF_SSO_PROVIDER_NAME = env.str("STAFF_SSO_PROVIDER_NAME", "SSO")
# `claim_value=django_group,...`: a claim value may name several groups, a group several values.
# The last `=` splits, so claim values may contain `=` (group names may not).
STAFF_SSO_GROUP_MAP: dict[str, list[str]] = {}
for _item in env.list("STAFF_SSO_GROUP_MAP"):
    _claim_value, _, _group = (part.strip() for part in _item.rpartition("="))
    if not (_claim_value and _group):
        env.problems.append(
            f"STAFF_SSO_GROUP_MAP must look like claim_value=django_group,... (got {_item!r})."
        )
        continue
    STAFF_SSO_GROUP_MAP.setdefault(_claim_value, []).append(_group)

_SSO_SIGN_ALGOS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "HS256")
if OIDC_RP_SIGN_ALGO not in _SSO_SIGN_ALGOS:
    env.problems.append(
        f"OIDC_RP_SIGN_ALGO must be one of {', '.join(_SSO_SIGN_ALGOS)} "
        f"(got {OIDC_RP_SIGN_ALGO!r})."
    )
    OIDC_RP_SIGN_ALGO = "RS256"
_sso_required = {
    "OIDC_RP_CLIENT_ID": OIDC_RP_CLIENT_ID,
    "OIDC_RP_CLIENT_SECRET": OIDC_RP_CLIENT_SECRET,
    "OIDC_OP_AUTHORIZATION_ENDPOINT": OIDC_OP_AUTHORIZATION_ENDPOINT,
    "OIDC_OP_TOKEN_ENDPOINT": OIDC_OP_TOKEN_ENDPOINT,
    "OIDC_OP_USER_ENDPOINT": OIDC_OP_USER_ENDPOINT,
    # HS256 id_tokens are signed with the client secret; the others with the provider's keys.
    **({} if OIDC_RP_SIGN_ALGO == "HS256" else {"OIDC_OP_JWKS_ENDPOINT": OIDC_OP_JWKS_ENDPOINT}),
}
_sso_missing = [name for name, value in _sso_required.items() if not value]
# SSO is on when the client and every endpoint are set; half a configuration stops start-up.
STAFF_SSO_ENABLED = not _sso_missing
if _sso_missing and len(_sso_missing) < len(_sso_required):
    env.problems.append(f"Staff SSO is partly configured: also set {', '.join(_sso_missing)}.")
if STAFF_SSO_ENABLED:
    if not STAFF_SSO_ALLOWED_DOMAINS:
        env.problems.append(
            "STAFF_SSO_ALLOWED_DOMAINS is required with staff SSO: the email domains whose "
            "verified addresses may sign in to the admin."
        )
    if IS_DEPLOYED:
        for _name, _url in _sso_required.items():
            if _name.endswith("_ENDPOINT") and not _url.startswith("https://"):
                env.problems.append(f"{_name} must be an https:// URL in {ENVIRONMENT}.")
    AUTHENTICATION_BACKENDS.append("accounts.sso.StaffSSOBackend")
# Whether the admin's password form is offered while SSO is on (without SSO it always is).
ADMIN_PASSWORD_LOGIN = env.bool("ADMIN_PASSWORD_LOGIN", not IS_PRODUCTION)

OIDC_CALLBACK_CLASS = "accounts.sso.StaffSSOCallbackView"
OIDC_AUTHENTICATE_CLASS = "accounts.sso.StaffSSOStartView"
# A random state and nonce per sign-in, kept in the session and used once (mozilla-django-oidc).
OIDC_USE_NONCE = True
OIDC_TIMEOUT = 10
LOGIN_REDIRECT_URL = "/admin/"
LOGIN_REDIRECT_URL_FAILURE = "/admin/login/"
# The lockout guards the password form: the provider's callbacks are neither refused by it nor
# counted in it (a refused SSO sign-in is no password guess, and an office behind one address
# must not lock itself out of both doors).
AXES_WHITELIST_CALLABLE = "accounts.backends.is_sso_callback"
