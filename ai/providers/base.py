"""The one interface every AI provider implements, and the values that cross it.

A provider turns a `CompletionRequest` into a `Completion` (`complete`) or into a stream of
`TextDelta`s ending with one `StreamEnd` (`stream`). It raises only `ProviderError` subclasses:

- `ProviderRequestError`: the provider refused the request itself (its 4xx other than 408/429:
  bad model name, context too long, content policy). The caller's fault: never retried on
  another provider.
- `ProviderTimeout`: no answer (or no next chunk) within the call's timeout.
- `ProviderUnavailable`: anything else (5xx, 429, connection errors, a broken answer): the
  router falls back to the next provider.

`stream` is a generator: the router and the views close it (`generator.close()`) when the client
goes away, and closing it must close the upstream HTTP response, which stops the provider's work.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class CompletionRequest:
    """What the caller asks for; `model` is None when the caller named none."""

    messages: tuple[Message, ...]
    model: str | None = None
    temperature: float = 0.7
    max_tokens: int = 1024


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Completion:
    """A finished completion as API.md's Completion shape carries it."""

    content: str
    model: str
    provider: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    latency_ms: int = 0


@dataclass(frozen=True)
class TextDelta:
    """One chunk of streamed text (may hold newlines)."""

    text: str


@dataclass(frozen=True)
class StreamEnd:
    """The last item of a stream: what `event: done` reports."""

    model: str
    provider: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None


StreamItem = TextDelta | StreamEnd


class ProviderError(Exception):
    """A provider call failed. `status` is the provider's HTTP status when there was one."""

    def __init__(self, message: str, *, provider: str, status: int | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status


class ProviderRequestError(ProviderError):
    """The provider refused the request itself (its 4xx): no fallback."""


class ProviderTimeout(ProviderError):
    """The provider did not answer within the timeout."""


class ProviderUnavailable(ProviderError):
    """The provider failed (5xx, 429, network, broken answer): the next provider may serve."""


class Provider(Protocol):
    """An AI provider. `name` is one of settings.AI_PROVIDERS."""

    name: ClassVar[str]

    def complete(self, request: CompletionRequest, *, model: str, timeout: float) -> Completion:
        """The whole completion of `request` by `model`."""
        ...

    def stream(
        self, request: CompletionRequest, *, model: str, timeout: float
    ) -> Iterator[StreamItem]:
        """`TextDelta`s as they arrive, then exactly one `StreamEnd` (usage included)."""
        ...
