"""`anthropic`: the Anthropic Messages API through the anthropic SDK (sync client, no retries).

The request is reshaped as the Messages API requires: system messages leave the list for the
`system` parameter (joined by blank lines), and consecutive messages of the same role are merged
into one (joined by blank lines). `complete` joins the answer's text blocks; `stream` reads the
raw events: `message_start` carries the prompt tokens, each `content_block_delta` of type
`text_delta` becomes a `TextDelta`, `message_delta` carries the stop reason and the output tokens
(cumulative), and the stream ends with one `StreamEnd`. Closing the generator closes the SDK
stream and so the HTTP response.

The request carries no `temperature`: API version 2026-10-21 (what anthropic 2.x sends) rejects
every sampling parameter, and the SDK no longer takes one.

Anthropic's stop reasons are reported in the OpenAI vocabulary every provider shares
(`end_turn`/`stop_sequence` → `stop`, `max_tokens` → `length`; others unchanged). Errors map as
for OpenAI: timeout → `ProviderTimeout`; 4xx other than 408/429 → `ProviderRequestError`;
the rest (408, 429, 5xx, overloaded, connection, malformed) → `ProviderUnavailable`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, ClassVar

import anthropic
import httpx2

from ai.providers.base import (
    Completion,
    CompletionRequest,
    Message,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    StreamEnd,
    StreamItem,
    TextDelta,
    Usage,
)
from ai.providers.openai import MALFORMED, provider_message, status_error

STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}
SDK_ERRORS = (anthropic.AnthropicError, httpx2.HTTPError, *MALFORMED)


def finish_reason(stop_reason: str | None) -> str | None:
    """Anthropic's stop reason in the shared vocabulary."""
    return STOP_REASONS.get(stop_reason, stop_reason) if stop_reason else None


def map_error(provider: str, error: Exception) -> ProviderError:
    """Translate an anthropic SDK (or transport) error into a `ProviderError`."""
    if isinstance(error, anthropic.APITimeoutError | httpx2.TimeoutException):
        return ProviderTimeout(f"{provider} did not answer in time", provider=provider)
    if isinstance(error, anthropic.APIStatusError):
        message = provider_message(error.body, f"{provider} answered {error.status_code}")
        if error.status_code < 400:  # an `error` event inside a 200 stream (e.g. overloaded)
            return ProviderUnavailable(message, provider=provider)
        return status_error(provider, error.status_code, message)
    if isinstance(error, anthropic.APIConnectionError | httpx2.HTTPError):
        return ProviderUnavailable(f"{provider} could not be reached", provider=provider)
    return ProviderUnavailable(f"{provider} sent a malformed answer", provider=provider)


def to_messages(messages: tuple[Message, ...]) -> tuple[str | None, list[dict[str, str]]]:
    """The `system` text and the alternating user/assistant messages the API accepts."""
    system = [message.content for message in messages if message.role == "system"]
    merged: list[dict[str, str]] = []
    for message in messages:
        if message.role == "system":
            continue
        if merged and merged[-1]["role"] == message.role:
            previous = merged[-1]["content"]
            merged[-1] = {"role": message.role, "content": f"{previous}\n\n{message.content}"}
        else:
            merged.append({"role": message.role, "content": message.content})
    return ("\n\n".join(system) if system else None), merged


def build_client(*, api_key: str, base_url: str, timeout: float) -> anthropic.Anthropic:
    """A sync client that never retries (the router falls back instead)."""
    return anthropic.Anthropic(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0)


class AnthropicProvider:
    """Messages API on `client` (an `anthropic.Anthropic`)."""

    name: ClassVar[str] = "anthropic"

    def __init__(self, client: anthropic.Anthropic) -> None:
        self.client = client

    def _params(self, request: CompletionRequest, model: str) -> dict[str, Any]:
        system, messages = to_messages(request.messages)
        params: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "max_tokens": request.max_tokens,
        }
        if system is not None:
            params["system"] = system
        return params

    def complete(self, request: CompletionRequest, *, model: str, timeout: float) -> Completion:
        """The whole completion, in one request."""
        started = time.perf_counter()
        try:
            response = self.client.messages.create(**self._params(request, model), timeout=timeout)
            content = "".join(block.text for block in response.content if block.type == "text")
            usage = Usage(
                prompt_tokens=response.usage.input_tokens,
                completion_tokens=response.usage.output_tokens,
            )
            reason = finish_reason(response.stop_reason)
        except SDK_ERRORS as error:
            raise map_error(self.name, error) from error
        return Completion(
            content=content,
            model=model,
            provider=self.name,
            usage=usage,
            finish_reason=reason,
            latency_ms=int((time.perf_counter() - started) * 1000),
        )

    def stream(
        self, request: CompletionRequest, *, model: str, timeout: float
    ) -> Iterator[StreamItem]:
        """Text deltas as they arrive, then the `StreamEnd` with message_start/delta usage."""
        try:
            upstream = self.client.messages.create(
                **self._params(request, model), stream=True, timeout=timeout
            )
        except SDK_ERRORS as error:
            raise map_error(self.name, error) from error
        prompt_tokens = completion_tokens = 0
        reason: str | None = None
        try:
            events = iter(upstream)
            while True:
                text = ""
                try:
                    event = next(events)
                    if event.type == "message_start":
                        prompt_tokens = event.message.usage.input_tokens
                        completion_tokens = event.message.usage.output_tokens
                    elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                        text = event.delta.text
                    elif event.type == "message_delta":
                        reason = finish_reason(event.delta.stop_reason)
                        completion_tokens = event.usage.output_tokens
                        if event.usage.input_tokens is not None:
                            prompt_tokens = event.usage.input_tokens
                except StopIteration:
                    break
                except SDK_ERRORS as error:
                    raise map_error(self.name, error) from error
                if text:
                    yield TextDelta(text)
        finally:
            upstream.close()
        usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        yield StreamEnd(model=model, provider=self.name, usage=usage, finish_reason=reason)
