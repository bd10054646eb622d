"""`openai`: OpenAI Chat Completions through the openai SDK (sync client, no SDK retries).

The same class serves any OpenAI-compatible server (vLLM, Ollama, Gemini's compatibility
endpoint) through the client's `base_url`. `complete` sends one request and reads `choices[0]`
and `usage` from the answer's JSON, decoded once: it posts the parameters through the client's
own `post` (its headers, timeout, errors), neither walking them through the SDK's typed
transform nor building its `ChatCompletion` (together about 0.3 of the 1 ms the SDK took per
call, against a provider answering at once); `stream` asks for
`stream_options.include_usage`, yields a `TextDelta` per content chunk, reads `finish_reason`
from the choice and the usage from the final (choice-less) chunk, then yields one `StreamEnd`.
Closing the generator closes the SDK stream, which closes the HTTP response and so stops the
upstream generation.

SDK errors become `ProviderError`s (`base.SDKProvider.map_error`): a timeout is `ProviderTimeout`;
an HTTP status of 4xx other than 408/429 is `ProviderRequestError`; 408, 429, 5xx, connection
errors, an error inside the stream and unparsable answers are `ProviderUnavailable`.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import httpx2
import openai
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from ai.providers.base import (
    CompletionRequest,
    Reply,
    SDKErrors,
    SDKProvider,
    json_object,
    text,
    tokens,
)

# OpenAI's reasoning models take `max_completion_tokens` and no `temperature`.
REASONING_MODEL = re.compile(r"^o\d")


def build_client(*, api_key: str, base_url: str, timeout: float) -> openai.OpenAI:
    """A sync client that never retries (the router falls back instead)."""
    return openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0)


class OpenAIProvider(SDKProvider[openai.OpenAI]):
    """Chat Completions on `client` (an `openai.OpenAI`)."""

    name: ClassVar[str] = "openai"
    errors: ClassVar[SDKErrors] = SDKErrors(
        sdk=(openai.OpenAIError, httpx2.HTTPError),
        timeout=(openai.APITimeoutError, httpx2.TimeoutException),
        status=(openai.APIStatusError,),
        connection=(openai.APIConnectionError, httpx2.HTTPError),
        failure=(openai.APIError,),
    )

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

    def _create(self, request: CompletionRequest, *, model: str, timeout: float) -> dict[str, Any]:
        # The parameters are plain JSON already (`_params`): the SDK's transform would only
        # walk them against its typed dicts.
        response = self.client.post(
            "/chat/completions",
            body=self._params(request, model),
            cast_to=httpx2.Response,
            options={"timeout": timeout},
        )
        return json_object(response.json())

    def _read(self, response: dict[str, Any]) -> Reply:
        """The `chat.completion` object's first choice and usage (a missing or mistyped field
        raises one of `MALFORMED`)."""
        choice = json_object(response["choices"][0])
        message = json_object(choice["message"])
        usage = json_object(response.get("usage") or {})
        return Reply(
            text=text(message.get("content")),
            prompt_tokens=tokens(usage.get("prompt_tokens")),
            completion_tokens=tokens(usage.get("completion_tokens")),
            finish_reason=text(choice.get("finish_reason")) or None,
        )

    def _open_stream(
        self, request: CompletionRequest, *, model: str, timeout: float
    ) -> openai.Stream[ChatCompletionChunk]:
        upstream: openai.Stream[ChatCompletionChunk] = self.client.chat.completions.create(
            **self._params(request, model),
            stream=True,
            stream_options={"include_usage": True},
            timeout=timeout,
        )
        return upstream

    def _read_chunk(self, chunk: ChatCompletionChunk, reply: Reply) -> list[str]:
        """The chunk's content; the final (choice-less) chunk carries the usage."""
        if chunk.usage is not None:
            reply.prompt_tokens = chunk.usage.prompt_tokens
            reply.completion_tokens = chunk.usage.completion_tokens
        texts = []
        for choice in chunk.choices:
            if choice.delta is not None and choice.delta.content:
                texts.append(choice.delta.content)
            if choice.finish_reason:
                reply.finish_reason = choice.finish_reason
        return texts
