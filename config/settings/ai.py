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
