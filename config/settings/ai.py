"""AI gateway settings (ai app): providers and their models, fallback, routing by complexity,
token limits, timeouts, the circuit breaker and model prices."""

from __future__ import annotations

import json

from config.settings.core import IS_PRODUCTION, env

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
# The price table: USD per million tokens (input, output) of every model that may be called,
# the providers' list prices when written; the usage rows' `cost_estimate` comes from it. A model
# that is not in it cannot be called (422 naming `model`), so nothing runs at an unknown cost.
# Extend or override with AI_MODEL_PRICES, JSON {"model": [input, output]} (0 for free models,
# e.g. a self-hosted one behind OPENAI_BASE_URL). Which plan may call which model:
# BILLING_PLANS[plan]["ai_models"] (settings/billing.py).
AI_MODEL_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4o": (2.50, 10.00),
    "o4-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "claude-3-5-haiku-latest": (0.80, 4.00),
    "claude-sonnet-4-0": (3.00, 15.00),
    "claude-opus-4-1": (15.00, 75.00),
    "gemini-2.0-flash": (0.10, 0.40),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-pro": (1.25, 10.00),
    ECHO_MODEL: (0.0, 0.0),
}


def _price_pair(value: object) -> tuple[float, float]:
    """[input, output], two non-negative numbers; ValueError otherwise."""
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError(value)
    prices = tuple(
        float(price) if isinstance(price, int | float) and not isinstance(price, bool) else -1.0
        for price in value
    )
    if min(prices) < 0:
        raise ValueError(value)
    return prices[0], prices[1]


if env.is_set("AI_MODEL_PRICES"):
    try:
        _prices = json.loads(env.str("AI_MODEL_PRICES"))
        if not isinstance(_prices, dict) or not all(str(model).strip() for model in _prices):
            raise ValueError(_prices)
        AI_MODEL_PRICES.update({str(model): _price_pair(pair) for model, pair in _prices.items()})
    except ValueError:
        env.problems.append(
            'AI_MODEL_PRICES must be JSON such as {"gpt-4o": [2.5, 10]} (USD per million '
            "input and output tokens, non-negative)."
        )
# Every model a call can reach without naming one (a provider's own, a route's) must have a price.
_unpriced: dict[str, str] = {}
for _name, _model in (
    ("AI_DEFAULT_MODEL", AI_DEFAULT_MODEL),
    *((f"{_provider.upper()}_MODEL", _model) for _provider, _model in AI_PROVIDER_MODELS.items()),
    *(
        (f"AI_ROUTE_{_complexity.upper()}", _route_model)
        for _complexity, (_, _route_model) in AI_ROUTES.items()
        if _route_model
    ),
):
    if _model not in AI_MODEL_PRICES:
        _unpriced.setdefault(_model, _name)
for _model, _name in _unpriced.items():
    env.problems.append(
        f"{_name}: the model {_model!r} has no price; add it to AI_MODEL_PRICES "
        '(JSON {"model": [input, output]}, USD per million tokens).'
    )
if IS_PRODUCTION and AI_DEFAULT_PROVIDER != "echo":
    _keys = {"openai": OPENAI_API_KEY, "anthropic": ANTHROPIC_API_KEY, "gemini": GEMINI_API_KEY}
    if not _keys[AI_DEFAULT_PROVIDER] and any(_keys.values()):
        env.problems.append(
            f"AI_DEFAULT_PROVIDER={AI_DEFAULT_PROVIDER} has no API key "
            f"({AI_DEFAULT_PROVIDER.upper()}_API_KEY) while another provider has one."
        )
