"""The AI router: picks a provider and model, falls back on failure, honours the circuit breakers.

Public surface:
    configured_providers() -> list[str]
    first_provider(*, provider, model, allowed) -> str | None
    complete(request, *, provider=None, model=None) -> Completion
    stream(request, *, provider=None, model=None) -> Iterator[StreamItem]

A call builds a plan: the requested provider first (the `provider` argument; else the provider
owning the requested model name: gpt-/chatgpt-/o1/o3/o4 → openai, claude → anthropic, gemini →
gemini, echo → echo, or any provider whose configured model is that name; else
AI_DEFAULT_PROVIDER), then AI_FALLBACK_PROVIDERS in order, without duplicates and without
providers that are not configured. A provider keeps the requested model only when it owns it;
otherwise (a fallback, or no model named) it gets its configured model, AI_PROVIDER_MODELS[name].
With `allowed` (the caller's plan allowlist, see `ai.services`), a step whose model is not in it
is left out, so a fallback never serves a model the caller may not use.

Each step of the plan: a provider whose breaker is open is skipped (and counts as a failure);
otherwise it is called with settings.AI_TIMEOUT_SECONDS. A `ProviderTimeout` or
`ProviderUnavailable` is logged (provider, model, error kind; never the prompt), recorded by the
breaker, and the next provider is tried. A `ProviderRequestError` stops the plan: the caller's
request was refused, so it becomes `BadRequestError` (400), or `ExternalServiceError` (502) when
the provider refused our credentials (401, 403).

A provider's own error text never reaches the caller: it may carry our account's details or a
fragment of a key. It is logged (with the provider, model and status); the errors raised here carry
a generic message naming the provider, and details.service.

When every step failed: `GatewayTimeoutError` (504) if every failure was a timeout, otherwise
`ExternalServiceError` (502); both carry details.providers, one entry per step with its error
kind. An empty plan (nothing configured, or the requested provider unconfigured with no
configured fallback) is `ServiceUnavailableError` (503).

Streaming follows the same plan until the first `TextDelta` (a stream that fails before any text
falls back exactly as `complete` does). After the first text the answer is committed: a later
`ProviderError` propagates unchanged to the caller (the API reports it as `event: error`).
Closing the router's generator closes the provider's generator, which closes the upstream HTTP
response, so a client that disconnects stops the provider's work.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from django.conf import settings

from ai import breaker
from ai.providers import registry
from ai.providers.base import (
    Completion,
    CompletionRequest,
    ProviderError,
    ProviderRequestError,
    ProviderTimeout,
    ProviderUnavailable,
    StreamItem,
    TextDelta,
)
from config.errors import (
    AppError,
    BadRequestError,
    ExternalServiceError,
    GatewayTimeoutError,
    ServiceUnavailableError,
    ValidationError,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Provider statuses that refuse our credentials (a bad or revoked key): not the caller's fault.
CREDENTIALS_REFUSED = frozenset({401, 403})

MODEL_OWNERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(gpt-|chatgpt-|o1|o3|o4)"), "openai"),
    (re.compile(r"^claude"), "anthropic"),
    (re.compile(r"^(models/)?gemini"), "gemini"),
    (re.compile(r"^echo"), "echo"),
)


@dataclass(frozen=True)
class Step:
    """One provider of the plan and the model it is asked for."""

    provider: str
    model: str


def configured_providers() -> list[str]:
    """Names of the providers that can be called: default first, then fallbacks, then the rest."""
    return registry.configured_providers()


def model_owner(model: str) -> str | None:
    """The provider a model name belongs to, or None when no provider claims it."""
    name = model.strip().lower()
    for pattern, provider in MODEL_OWNERS:
        if pattern.match(name):
            return provider
    for provider, configured in settings.AI_PROVIDER_MODELS.items():
        if configured and configured.lower() == name:
            return str(provider)
    return None


def plan(
    *, provider: str | None, model: str | None, allowed: Collection[str] | None = None
) -> list[Step]:
    """The providers to try, in order, each with its model (raises 400 for an unknown provider).

    With `allowed`, steps whose model is not in it are left out; when that leaves none, 422
    naming `model`.
    """
    if provider is not None and provider not in settings.AI_PROVIDERS:
        raise BadRequestError(
            f"Unknown AI provider {provider!r}",
            details={"service": "ai", "provider": provider},
        )
    owner = model_owner(model) if model else None
    first = provider or owner or settings.AI_DEFAULT_PROVIDER
    steps: list[Step] = []
    refused = False
    for name in dict.fromkeys([first, *settings.AI_FALLBACK_PROVIDERS]):
        if not registry.is_configured(name):
            continue
        chosen = model if model and owner == name else settings.AI_PROVIDER_MODELS[name]
        if allowed is not None and chosen not in allowed:
            refused = True
            continue
        steps.append(Step(name, chosen))
    if not steps and refused:
        raise ValidationError(
            [
                {
                    "field": "model",
                    "message": "No AI model your plan allows is available now.",
                    "code": "not_in_plan",
                }
            ]
        )
    if not steps:
        if registry.configured_providers():
            raise ServiceUnavailableError(
                f"AI provider {first!r} is not configured",
                details={"service": "ai", "provider": first},
            )
        raise ServiceUnavailableError("No AI provider is configured", details={"service": "ai"})
    return steps


def _kind(error: ProviderError) -> str:
    return "timeout" if isinstance(error, ProviderTimeout) else "unavailable"


def first_provider(
    *, provider: str | None, model: str | None, allowed: Collection[str] | None = None
) -> str | None:
    """The provider a call with these arguments tries first; None when its plan is an error
    (which the call itself then raises)."""
    try:
        return plan(provider=provider, model=model, allowed=allowed)[0].provider
    except AppError:
        return None


class _Attempts:
    """The failures of one call, turned into the final error when every step failed."""

    def __init__(self, breakers_read: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.failures: list[dict[str, Any]] = []
        self.clean: dict[str, bool] = {}
        # Breaker keys the caller read ahead, per provider: each spares that provider's read once.
        self.breakers_read = dict(breakers_read or {})

    def allow(self, step: Step) -> bool:
        """Whether `step`'s breaker lets it be called; a step skipped counts as a failure."""
        clean = breaker.admit(step.provider, found=self.breakers_read.pop(step.provider, None))
        if clean is not None:
            self.clean[step.provider] = clean
            return True
        logger.warning(
            "AI provider %s skipped: circuit open",
            step.provider,
            extra={"provider": step.provider, "model": step.model, "error": "circuit_open"},
        )
        self.failures.append(
            {"provider": step.provider, "model": step.model, "error": "circuit_open"}
        )
        return False

    def run(self, step: Step, call: Callable[[], T]) -> T | None:
        """`call()`'s result, with its outcome told to `step`'s breaker.

        None when the provider failed (recorded here: the next step may serve); a refusal is
        raised as `BadRequestError`; anything else (a bug, `GeneratorExit`) gives the breaker's
        probe back and propagates.
        """
        try:
            result = call()
        except ProviderRequestError as error:
            raise _refused(step, error) from error
        except ProviderError as error:
            self.failed(step, error)
            return None
        except BaseException:
            breaker.release(step.provider)
            raise
        breaker.record_success(step.provider, clean=self.clean.get(step.provider, False))
        return result

    def failed(self, step: Step, error: ProviderError) -> None:
        kind = _kind(error)
        logger.warning(
            "AI provider %s (model %s) failed: %s%s: %s",
            step.provider,
            step.model,
            kind,
            f" (status {error.status})" if error.status else "",
            error,
            extra={
                "provider": step.provider,
                "model": step.model,
                "error": kind,
                "status": error.status,
            },
        )
        breaker.record_failure(step.provider)
        self.failures.append(
            {"provider": step.provider, "model": step.model, "error": kind, "status": error.status}
        )

    def final_error(self) -> AppError:
        details = {"service": "ai", "providers": self.failures}
        named = ", ".join(dict.fromkeys(failure["provider"] for failure in self.failures))
        if all(failure["error"] == "timeout" for failure in self.failures):
            return GatewayTimeoutError(
                f"The AI provider ({named}) did not answer in time", details=details
            )
        return ExternalServiceError(f"The AI provider ({named}) failed", details=details)


def _refused(step: Step, error: ProviderRequestError) -> AppError:
    """The provider answered and refused the request: no fallback.

    The caller's error (400), unless the provider refused our credentials (502). The provider's
    text is logged, never returned.
    """
    breaker.record_success(step.provider)
    logger.warning(
        "AI provider %s (model %s) refused the request (status %s): %s",
        step.provider,
        step.model,
        error.status,
        error,
        extra={"provider": step.provider, "model": step.model, "status": error.status},
    )
    details = {"service": step.provider, "status": error.status}
    if error.status in CREDENTIALS_REFUSED:
        return ExternalServiceError(f"The AI provider {step.provider} failed", details=details)
    return BadRequestError(f"The AI provider {step.provider} refused the request", details=details)


def _timeout() -> float:
    return float(settings.AI_TIMEOUT_SECONDS)


def complete(
    request: CompletionRequest,
    *,
    provider: str | None = None,
    model: str | None = None,
    allowed: Collection[str] | None = None,
    breakers_read: Mapping[str, Mapping[str, Any]] | None = None,
) -> Completion:
    """A completion from the first provider of the plan that answers (see the module docstring).

    `breakers_read`: per provider, what the caller's read of `breaker.read_keys(provider)`
    found, so that provider's breaker is not read again.
    """
    attempts = _Attempts(breakers_read)
    for step in plan(provider=provider, model=model or request.model, allowed=allowed):
        if not attempts.allow(step):
            continue
        completion = attempts.run(step, partial(_complete, step, request))
        if completion is not None:
            return completion
    raise attempts.final_error()


def _complete(step: Step, request: CompletionRequest) -> Completion:
    """`step`'s provider's completion of `request`."""
    return registry.get_provider(step.provider).complete(
        request, model=step.model, timeout=_timeout()
    )


def stream(
    request: CompletionRequest,
    *,
    provider: str | None = None,
    model: str | None = None,
    allowed: Collection[str] | None = None,
    breakers_read: Mapping[str, Mapping[str, Any]] | None = None,
) -> Iterator[StreamItem]:
    """`TextDelta`s then one `StreamEnd` from the first provider that starts answering.

    Errors of the plan (400, 422, 502, 503, 504) are raised by the first `next()`.
    `breakers_read` as for `complete`.
    """
    attempts = _Attempts(breakers_read)
    for step in plan(provider=provider, model=model or request.model, allowed=allowed):
        if not attempts.allow(step):
            continue
        upstream = registry.get_provider(step.provider).stream(
            request, model=step.model, timeout=_timeout()
        )
        try:
            first = attempts.run(step, partial(_first_text, step, upstream))
            if first is None:
                continue
            yield from _rest(step, first, upstream)
            return
        finally:
            _close(upstream)
    raise attempts.final_error()


def _close(upstream: Iterator[StreamItem]) -> None:
    """Close a provider's stream generator (and so its upstream HTTP response)."""
    close = getattr(upstream, "close", None)
    if callable(close):
        close()


def _first_text(step: Step, upstream: Iterator[StreamItem]) -> list[StreamItem]:
    """The items up to and including the first `TextDelta` (or the end of the stream)."""
    items: list[StreamItem] = []
    for item in upstream:
        items.append(item)
        if isinstance(item, TextDelta):
            break
    else:
        if not items:
            raise ProviderUnavailable("empty stream", provider=step.provider)
    return items


def _rest(
    step: Step, first: list[StreamItem], upstream: Iterator[StreamItem]
) -> Iterator[StreamItem]:
    """The committed stream: the first items, then the provider's, errors passed through."""
    yield from first
    try:
        yield from upstream
    except ProviderError as error:
        logger.warning(
            "AI provider %s (model %s) failed mid-stream: %s: %s",
            step.provider,
            step.model,
            _kind(error),
            error,
            extra={"provider": step.provider, "model": step.model, "error": _kind(error)},
        )
        if not isinstance(error, ProviderRequestError):
            breaker.record_failure(step.provider)
        raise
