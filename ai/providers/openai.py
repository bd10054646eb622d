"""`openai`: OpenAI Chat Completions through the openai SDK (sync client, no SDK retries).

The same class serves any OpenAI-compatible server (vLLM, Ollama, Gemini's compatibility
endpoint) through the client's `base_url`. `complete` sends one request and reads `choices[0]`
and `usage`; `stream` asks for `stream_options.include_usage`, yields a `TextDelta` per content
chunk, reads `finish_reason` from the choice and the usage from the final (choice-less) chunk,
then yields one `StreamEnd`. Closing the generator closes the SDK stream, which closes the HTTP
response and so stops the upstream generation.

SDK errors become `ProviderError`s: a timeout is `ProviderTimeout`; an HTTP status of 4xx other
than 408/429 is `ProviderRequestError`; 408, 429, 5xx, connection errors and unparsable answers
are `ProviderUnavailable`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx2
import openai
from openai.types.chat import ChatCompletionMessageParam

from ai.providers.base import (
    Completion,
    CompletionRequest,
    ProviderError,
    ProviderRequestError,
    ProviderTimeout,
    ProviderUnavailable,
    StreamEnd,
    StreamItem,
    TextDelta,
    Usage,
)

# OpenAI's reasoning models take `max_completion_tokens` and no `temperature`.
REASONING_MODEL = re.compile(r"^o\d")
# Errors of a broken answer (bad JSON, missing fields) while the SDK parses it.
MALFORMED = (ValueError, TypeError, AttributeError, KeyError, IndexError)


def provider_message(body: object, default: str) -> str:
    """The human message of an error body shaped `{"error": {"message"}}` or `{"message"}`."""
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return default


def status_error(provider: str, status: int, message: str) -> ProviderError:
    """The `ProviderError` of an HTTP error status (the same rule for every provider)."""
    if 400 <= status < 500 and status not in (408, 429):
        return ProviderRequestError(message, provider=provider, status=status)
    return ProviderUnavailable(message, provider=provider, status=status)


def map_error(provider: str, error: Exception) -> ProviderError:
    """Translate an openai SDK (or transport) error into a `ProviderError`."""
    if isinstance(error, openai.APITimeoutError | httpx2.TimeoutException):
        return ProviderTimeout(f"{provider} did not answer in time", provider=provider)
    if isinstance(error, openai.APIStatusError):
        message = provider_message(error.body, f"{provider} answered {error.status_code}")
        return status_error(provider, error.status_code, message)
    if isinstance(error, openai.APIConnectionError | httpx2.HTTPError):
        return ProviderUnavailable(f"{provider} could not be reached", provider=provider)
    if isinstance(error, openai.APIError):
        message = provider_message(error.body, error.message or f"{provider} failed")
        return ProviderUnavailable(message, provider=provider)
    return ProviderUnavailable(f"{provider} sent a malformed answer", provider=provider)


SDK_ERRORS = (openai.OpenAIError, httpx2.HTTPError, *MALFORMED)


def build_client(*, api_key: str, base_url: str, timeout: float) -> openai.OpenAI:
    """A sync client that never retries (the router falls back instead)."""
    return openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0)


class OpenAIProvider:
    """Chat Completions on `client` (an `openai.OpenAI`)."""

    name: ClassVar[str] = "openai"

    def __init__(self, client: openai.OpenAI) -> None:
        self.client = client

    def _params(self, request: CompletionRequest, model: str) -> dict[str, Any]:
        messages: list[ChatCompletionMessageParam] = [
            {"role": message.role, "content": message.content}  # type: ignore[misc]
            for message in request.messages
        ]
        params: dict[str, Any] = {"model": model, "messages": messages}
        if REASONING_MODEL.match(model):
            params["max_completion_tokens"] = request.max_tokens
        else:
            params["max_tokens"] = request.max_tokens
            params["temperature"] = request.temperature
        return params

    def complete(self, request: CompletionRequest, *, model: str, timeout: float) -> Completion:
        """The whole completion, in one request."""
        started = time.perf_counter()
        try:
            response = self.client.chat.completions.create(
                **self._params(request, model), timeout=timeout
            )
            choice = response.choices[0]
            content = choice.message.content or ""
            usage = Usage(
                prompt_tokens=response.usage.prompt_tokens if response.usage else 0,
                completion_tokens=response.usage.completion_tokens if response.usage else 0,
            )
            finish_reason = choice.finish_reason
        except SDK_ERRORS as error:
            raise map_error(self.name, error) from error
        return Completion(
            content=content,
            model=model,
            provider=self.name,
            usage=usage,
            finish_reason=finish_reason,
            latency_ms=int((time.perf_counter() - started) * 1000),
        )

    def stream(
        self, request: CompletionRequest, *, model: str, timeout: float
    ) -> Iterator[StreamItem]:
        """Text chunks as they arrive, then the `StreamEnd` with the final usage chunk's counts."""
        try:
            upstream = self.client.chat.completions.create(
                **self._params(request, model),
                stream=True,
                stream_options={"include_usage": True},
                timeout=timeout,
            )
        except SDK_ERRORS as error:
            raise map_error(self.name, error) from error
        usage = Usage()
        finish_reason: str | None = None
        try:
            chunks = iter(upstream)
            while True:
                try:
                    chunk = next(chunks)
                    if chunk.usage is not None:
                        usage = Usage(
                            prompt_tokens=chunk.usage.prompt_tokens,
                            completion_tokens=chunk.usage.completion_tokens,
                        )
                    texts = []
                    for choice in chunk.choices:
                        if choice.delta is not None and choice.delta.content:
                            texts.append(choice.delta.content)
                        if choice.finish_reason:
                            finish_reason = choice.finish_reason
                except StopIteration:
                    break
                except SDK_ERRORS as error:
                    raise map_error(self.name, error) from error
                for text in texts:
                    yield TextDelta(text)
        finally:
            upstream.close()
        yield StreamEnd(model=model, provider=self.name, usage=usage, finish_reason=finish_reason)
