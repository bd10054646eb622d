"""`anthropic`: the Anthropic Messages API through the anthropic SDK (sync client, no retries).

The request is reshaped as the Messages API requires: system messages leave the list for the
`system` parameter (joined by blank lines), and consecutive messages of the same role are merged
into one (joined by blank lines). `complete` joins the answer's text blocks, read from its JSON
decoded once (`with_raw_response`, not the SDK's typed `Message`); `stream` reads the
raw events: `message_start` carries the prompt tokens, each `content_block_delta` of type
`text_delta` becomes a `TextDelta`, `message_delta` carries the stop reason and the output tokens
(cumulative), and the stream ends with one `StreamEnd`. Closing the generator closes the SDK
stream and so the HTTP response.

The request carries no `temperature`: API version 2026-10-21 (what anthropic 2.x sends) rejects
every sampling parameter, and the SDK no longer takes one.

Anthropic's stop reasons are reported in the OpenAI vocabulary every provider shares
(`end_turn`/`stop_sequence` → `stop`, `max_tokens` → `length`; others unchanged). Errors map as
for OpenAI (`base.SDKProvider.map_error`): timeout → `ProviderTimeout`; 4xx other than 408/429 →
`ProviderRequestError`; the rest (408, 429, 5xx, overloaded, connection, malformed) →
`ProviderUnavailable`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import anthropic
import httpx2
from anthropic.types import RawMessageStreamEvent

from ai.providers.base import (
    CompletionRequest,
    Message,
    ProviderError,
    ProviderUnavailable,
    Reply,
    SDKErrors,
    SDKProvider,
    json_object,
    provider_message,
    text,
    tokens,
)

STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


def finish_reason(stop_reason: str | None) -> str | None:
    """Anthropic's stop reason in the shared vocabulary."""
    return STOP_REASONS.get(stop_reason, stop_reason) if stop_reason else None


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


class AnthropicProvider(SDKProvider[anthropic.Anthropic]):
    """Messages API on `client` (an `anthropic.Anthropic`)."""

    name: ClassVar[str] = "anthropic"
    errors: ClassVar[SDKErrors] = SDKErrors(
        sdk=(anthropic.AnthropicError, httpx2.HTTPError),
        timeout=(anthropic.APITimeoutError, httpx2.TimeoutException),
        status=(anthropic.APIStatusError,),
        connection=(anthropic.APIConnectionError, httpx2.HTTPError),
    )

    def map_error(self, error: Exception) -> ProviderError:
        """As for every SDK, but an `error` event inside a 200 stream (e.g. overloaded) has no
        HTTP status to report."""
        if isinstance(error, anthropic.APIStatusError) and error.status_code < 400:
            message = provider_message(error.body, f"{self.name} answered {error.status_code}")
            return ProviderUnavailable(message, provider=self.name)
        return super().map_error(error)

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

    def _create(self, request: CompletionRequest, *, model: str, timeout: float) -> dict[str, Any]:
        params = self._params(request, model)
        raw = self.client.messages.with_raw_response.create(**params, timeout=timeout)
        return json_object(raw.http_response.json())

    def _read(self, response: dict[str, Any]) -> Reply:
        """The `message` object's text blocks, usage and stop reason (a missing or mistyped
        field raises one of `MALFORMED`)."""
        blocks = [json_object(block) for block in response["content"]]
        texts = [text(block["text"], required=True) for block in blocks if block["type"] == "text"]
        usage = json_object(response["usage"])
        return Reply(
            text="".join(texts),
            prompt_tokens=tokens(usage["input_tokens"]),
            completion_tokens=tokens(usage["output_tokens"]),
            finish_reason=finish_reason(text(response.get("stop_reason")) or None),
        )

    def _open_stream(
        self, request: CompletionRequest, *, model: str, timeout: float
    ) -> anthropic.Stream[RawMessageStreamEvent]:
        upstream: anthropic.Stream[RawMessageStreamEvent] = self.client.messages.create(
            **self._params(request, model), stream=True, timeout=timeout
        )
        return upstream

    def _read_chunk(self, event: RawMessageStreamEvent, reply: Reply) -> list[str]:
        """The text of a `text_delta`; `message_start` and `message_delta` carry the usage."""
        if event.type == "message_start":
            reply.prompt_tokens = event.message.usage.input_tokens
            reply.completion_tokens = event.message.usage.output_tokens
        elif event.type == "content_block_delta" and event.delta.type == "text_delta":
            return [event.delta.text]
        elif event.type == "message_delta":
            reply.finish_reason = finish_reason(event.delta.stop_reason)
            reply.completion_tokens = event.usage.output_tokens
            if event.usage.input_tokens is not None:
                reply.prompt_tokens = event.usage.input_tokens
        return []
