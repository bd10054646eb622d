"""Billing settings (billing app): plans and their limits, Stripe, and in-app purchases from the
App Store and Google Play.

The billing jobs (expiring lapsed entitlements, reconciling Stripe events) are scheduled in
settings/jobs.py."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

# The AI settings come first: a plan's AI models default to and are checked against them.
from config.settings.ai import AI_DEFAULT_MODEL, AI_MODEL_PRICES, AI_PROVIDER_MODELS
from config.settings.api import RATE_LIMITS
from config.settings.core import IS_PRODUCTION, env

# --- Billing (billing app) -------------------------------------------------------------------
# Plans and their limits. `billing.selectors.plan_limits` is what other apps read (files: storage,
# ai: tokens); a user without an entitlement that grants access is on `free`. Every limit can be
# overridden by env: BILLING_<PLAN>_AI_TOKENS_PER_MONTH, BILLING_<PLAN>_STORAGE_BYTES,
# BILLING_<PLAN>_AI_MODELS and (paid plans) BILLING_<PLAN>_RATE_LIMIT, with <PLAN> one of FREE,
# PRO, ENTERPRISE.
# `ai_models` is the plan's model allowlist: the models its users may call (by name, by routing
# or as a fallback); anything else is refused (422) before any provider is called. By default
# free gets each provider's configured model (OPENAI_MODEL, ANTHROPIC_MODEL, GEMINI_MODEL, echo
# and AI_DEFAULT_MODEL), pro adds the mid-size models of _PRO_EXTRA_AI_MODELS, and
# enterprise gets every model of AI_MODEL_PRICES. Env: a comma list, or `*` for every priced
# model. Every listed model must have a price, and every plan must allow AI_DEFAULT_MODEL (what a
# call naming no model gets).
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
_PRO_EXTRA_AI_MODELS = (
    "gpt-4.1-mini",
    "gpt-4.1",
    "gpt-4o",
    "o4-mini",
    "claude-sonnet-4-0",
    "gemini-2.5-flash",
    "gemini-2.5-pro",
)
_free_ai_models = list(dict.fromkeys([AI_DEFAULT_MODEL, *AI_PROVIDER_MODELS.values()]))
_default_ai_models = {
    "free": _free_ai_models,
    "pro": list(dict.fromkeys([*_free_ai_models, *_PRO_EXTRA_AI_MODELS])),
    "enterprise": list(AI_MODEL_PRICES),
}


def _plan_ai_models(plan: str) -> list[str]:
    """The plan's AI model allowlist: BILLING_<PLAN>_AI_MODELS, else its default."""
    name = f"BILLING_{plan.upper()}_AI_MODELS"
    models = env.list(name, _default_ai_models[plan])
    if models == ["*"]:
        return list(AI_MODEL_PRICES)
    models = list(dict.fromkeys(models))
    for model in models:
        if model not in AI_MODEL_PRICES:
            env.problems.append(
                f"{name} lists {model!r}, which has no price in AI_MODEL_PRICES "
                "(a model can only be allowed once it is priced)."
            )
    if AI_DEFAULT_MODEL not in models:
        env.problems.append(
            f"{name} must include AI_DEFAULT_MODEL ({AI_DEFAULT_MODEL}): a call naming no model "
            "gets it."
        )
    return models


BILLING_PLANS: dict[str, dict[str, Any]] = {
    plan: {
        "name": name,
        "ai_tokens_per_month": env.int(
            f"BILLING_{plan.upper()}_AI_TOKENS_PER_MONTH", tokens, minimum=0
        ),
        "ai_models": _plan_ai_models(plan),
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
# Each paid plan's monthly list price (cents) for the staff dashboard's MRR estimate: pro's is
# BILLING_PRICE_MONTHLY_CENTS; enterprise is usually sold by contract, so it counts only once
# BILLING_ENTERPRISE_MONTHLY_PRICE_CENTS is set (0: left out of MRR).
BILLING_MONTHLY_PRICE_CENTS: dict[str, int] = {
    "pro": BILLING_PRICE_MONTHLY_CENTS,
    "enterprise": env.int("BILLING_ENTERPRISE_MONTHLY_PRICE_CENTS", 0, minimum=0),
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
# Stripe events of the last this many days that never arrived are fetched and processed (hourly).
STRIPE_RECONCILE_DAYS = 3

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
