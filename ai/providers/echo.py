"""`echo`: an offline, deterministic provider, so the AI endpoints work with no key and no network.

The answer repeats the last user message (`Echo: <text>`); token counts are word counts; the
stream sends the answer word by word (spaces kept), so its chunks join to the same text.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import ClassVar

from ai.providers.base import BaseProvider, CompletionRequest, Reply, TextDelta

CHUNK = re.compile(r"\S+\s*|\s+")


def _answer(request: CompletionRequest) -> str:
    last_user = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
    return f"Echo: {last_user}"


def _words(text: str) -> int:
    return len(text.split())


class EchoProvider(BaseProvider):
    """Repeats the last user message; `max_tokens` caps the answer's words."""

    name: ClassVar[str] = "echo"

    def _reply(self, request: CompletionRequest) -> tuple[list[str], Reply]:
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
        text = "".join(chunks)
        prompt = sum(_words(message.content) for message in request.messages)
        reply = Reply(
            text, prompt_tokens=prompt, completion_tokens=_words(text), finish_reason=finish
        )
        return chunks, reply

    def _answer(self, request: CompletionRequest, *, model: str, timeout: float) -> Reply:
        """The whole echoed answer (`timeout` is irrelevant offline)."""
        return self._reply(request)[1]

    def _deltas(
        self, request: CompletionRequest, *, model: str, timeout: float
    ) -> Generator[TextDelta, None, Reply]:
        """The echoed answer word by word."""
        chunks, reply = self._reply(request)
        for chunk in chunks:
            yield TextDelta(chunk)
        return reply
