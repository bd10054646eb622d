"""Which AI providers are configured, and one provider object (with its SDK client) per process.

A provider is configured when its API key is set (openai, anthropic, gemini) or, for echo, when
settings.AI_ECHO_ENABLED. `configured_providers()` lists them in the order the router prefers:
AI_DEFAULT_PROVIDER first, then AI_FALLBACK_PROVIDERS in order, then the rest in AI_PROVIDERS
order.

`get_provider(name)` builds the provider and its SDK client once and reuses them across threads
(the SDKs' httpx2 clients are thread-safe and keep a connection pool). A provider's module, and
with it its SDK, is imported only when the provider is first built: the openai and anthropic SDKs
cost tens of MiB per process, which processes that never call them should not pay. A web server's
master imports those of the configured providers before it forks (`import_configured_sdks`), so
its workers share them and none pauses about 0.3 s for the import at its first call. Each
cached object remembers the settings it was built from (key, base URL, timeout); when they change
(a test's `settings` fixture, a reload) the next call builds a new one.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable

from django.conf import settings

from ai.providers.base import Provider
from ai.providers.echo import EchoProvider

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
ANTHROPIC_DEFAULT_BASE_URL = "https://api.anthropic.com"

# The module of each provider that has an SDK (gemini speaks OpenAI's API through its SDK).
SDK_MODULES = {
    "openai": "ai.providers.openai",
    "gemini": "ai.providers.gemini",
    "anthropic": "ai.providers.anthropic",
}

_lock = threading.Lock()
_cache: dict[str, tuple[tuple[object, ...], Provider]] = {}


class ProviderNotConfigured(LookupError):
    """The named provider has no key (or echo is disabled), or is unknown."""


def _api_key(name: str) -> str:
    keys = {
        "openai": settings.OPENAI_API_KEY,
        "anthropic": settings.ANTHROPIC_API_KEY,
        "gemini": settings.GEMINI_API_KEY,
    }
    return str(keys.get(name) or "")


def is_configured(name: str) -> bool:
    """Whether `name` can be called with the current settings."""
    if name == "echo":
        return bool(settings.AI_ECHO_ENABLED)
    return name in settings.AI_PROVIDERS and bool(_api_key(name))


def configured_providers() -> list[str]:
    """Configured provider names: the default, then the fallbacks in order, then the rest."""
    order = [settings.AI_DEFAULT_PROVIDER, *settings.AI_FALLBACK_PROVIDERS, *settings.AI_PROVIDERS]
    return [name for name in dict.fromkeys(order) if is_configured(name)]


def import_configured_sdks(**_: object) -> list[str]:
    """Import the provider modules, and so the SDKs, of the configured providers without building
    a client (no connection is opened); returns their names. Connected to
    `config.signals.before_workers_fork`."""
    names = [name for name in configured_providers() if name in SDK_MODULES]
    for name in names:
        importlib.import_module(SDK_MODULES[name])
    return names


def _build_openai(*, key: str, url: str, timeout: float) -> Provider:
    from ai.providers import openai as openai_provider

    client = openai_provider.build_client(api_key=key, base_url=url, timeout=timeout)
    return openai_provider.OpenAIProvider(client)


def _build_gemini(*, key: str, url: str, timeout: float) -> Provider:
    from ai.providers import openai as openai_provider
    from ai.providers.gemini import GeminiProvider

    return GeminiProvider(openai_provider.build_client(api_key=key, base_url=url, timeout=timeout))


def _build_anthropic(*, key: str, url: str, timeout: float) -> Provider:
    from ai.providers import anthropic as anthropic_provider

    client = anthropic_provider.build_client(api_key=key, base_url=url, timeout=timeout)
    return anthropic_provider.AnthropicProvider(client)


def _recipe(name: str) -> tuple[tuple[object, ...], Callable[[], Provider]]:
    """The settings `name`'s provider depends on, and how to build it from them."""
    timeout = float(settings.AI_TIMEOUT_SECONDS)
    key = _api_key(name)
    if name == "openai":
        url = settings.OPENAI_BASE_URL or OPENAI_DEFAULT_BASE_URL
        return (key, url, timeout), lambda: _build_openai(key=key, url=url, timeout=timeout)
    if name == "gemini":
        url = settings.GEMINI_BASE_URL
        return (key, url, timeout), lambda: _build_gemini(key=key, url=url, timeout=timeout)
    if name == "anthropic":
        url = settings.ANTHROPIC_BASE_URL or ANTHROPIC_DEFAULT_BASE_URL
        return (key, url, timeout), lambda: _build_anthropic(key=key, url=url, timeout=timeout)
    return (), EchoProvider


def get_provider(name: str) -> Provider:
    """The process-wide provider object for `name` (raises ProviderNotConfigured)."""
    if not is_configured(name):
        raise ProviderNotConfigured(name)
    fingerprint, build = _recipe(name)
    with _lock:
        cached = _cache.get(name)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        provider = build()
        _cache[name] = (fingerprint, provider)
        return provider
