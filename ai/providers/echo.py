"""`echo`: an offline, deterministic provider, so the AI endpoints work with no key and no network.

The answer repeats the last user message (`Echo: <text>`); token counts are word counts; the
stream sends the answer word by word (spaces kept), so its chunks join to the same text.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import ClassVar

from ai.providers.base import Completion, CompletionRequest, StreamEnd, StreamItem, TextDelta, Usage

CHUNK = re.compile(r"\S+\s*|\s+")


def _answer(request: CompletionRequest) -> str:
    last_user = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
    return f"Echo: {last_user}"


def _words(text: str) -> int:
    return len(text.split())


class EchoProvider:
    """Repeats the last user message; `max_tokens` caps the answer's words."""

    name: ClassVar[str] = "echo"

    def _reply(self, request: CompletionRequest) -> tuple[list[str], Usage, str]:
        chunks = CHUNK.findall(_answer(request))
        finish = "stop"
        words = [chunk for chunk in chunks if chunk.strip()]
        if len(words) > request.max_tokens:
            chunks, kept = [], 0
            for chunk in CHUNK.findall(_answer(request)):
                if chunk.strip():
                    if kept == request.max_tokens:
                        break
                    kept += 1
                chunks.append(chunk)
            finish = "length"
        prompt = sum(_words(message.content) for message in request.messages)
        usage = Usage(prompt_tokens=prompt, completion_tokens=_words("".join(chunks)))
        return chunks, usage, finish

    def complete(self, request: CompletionRequest, *, model: str, timeout: float) -> Completion:
        """The whole echoed answer (`timeout` is irrelevant offline)."""
        started = time.perf_counter()
        chunks, usage, finish = self._reply(request)
        return Completion(
            content="".join(chunks),
            model=model,
            provider=self.name,
            usage=usage,
            finish_reason=finish,
            latency_ms=int((time.perf_counter() - started) * 1000),
        )

    def stream(
        self, request: CompletionRequest, *, model: str, timeout: float
    ) -> Iterator[StreamItem]:
        """The echoed answer word by word, then its `StreamEnd`."""
        chunks, usage, finish = self._reply(request)
        for chunk in chunks:
            yield TextDelta(chunk)
        yield StreamEnd(model=model, provider=self.name, usage=usage, finish_reason=finish)
