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

The skeleton every provider shares lives here too. `BaseProvider` times `complete` and builds the
`Completion`, and ends `stream` with its `StreamEnd`; a provider only produces a `Reply` (and,
streaming, its text). `SDKProvider` adds what the SDK-backed providers share: one rule that turns
SDK and transport errors into `ProviderError`s (`SDKErrors` says which classes mean what), and the
streaming loop that reads chunks, yields their text and closes the upstream response however the
stream ends. An SDK provider says how to call its SDK (`_create`, `_open_stream`) and how to read
its answer (`_read`, `_read_chunk`). This module imports no SDK: each provider's module does, and
is itself imported only when the provider is first built (see `registry`).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar, cast

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


# --- The shared skeleton -------------------------------------------------------------------

ErrorClasses = tuple[type[Exception], ...]

# Errors of a broken answer (bad JSON, missing fields) while an SDK parses it, or we read it.
MALFORMED: ErrorClasses = (ValueError, TypeError, AttributeError, KeyError, IndexError)


@dataclass
class Reply:
    """What a provider read of its answer; a stream's reader fills it in chunk by chunk."""

    text: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None

    @property
    def usage(self) -> Usage:
        """The token counts as a `Usage`."""
        return Usage(prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens)


class BaseProvider(ABC):
    """`complete` and `stream` around a provider's `_answer` and `_deltas`."""

    name: ClassVar[str]

    @abstractmethod
    def _answer(self, request: CompletionRequest, *, model: str, timeout: float) -> Reply:
        """The whole answer (raises only `ProviderError`s)."""

    @abstractmethod
    def _deltas(
        self, request: CompletionRequest, *, model: str, timeout: float
    ) -> Generator[TextDelta, None, Reply]:
        """The answer's text as it arrives; returns the usage and finish reason at the end."""

    def complete(self, request: CompletionRequest, *, model: str, timeout: float) -> Completion:
        """The whole completion, with the time it took."""
        started = time.perf_counter()
        reply = self._answer(request, model=model, timeout=timeout)
        return Completion(
            content=reply.text,
            model=model,
            provider=self.name,
            usage=reply.usage,
            finish_reason=reply.finish_reason,
            latency_ms=int((time.perf_counter() - started) * 1000),
        )

    def stream(
        self, request: CompletionRequest, *, model: str, timeout: float
    ) -> Iterator[StreamItem]:
        """`TextDelta`s as they arrive, then the `StreamEnd` (closing this closes `_deltas`)."""
        reply = yield from self._deltas(request, model=model, timeout=timeout)
        yield StreamEnd(
            model=model, provider=self.name, usage=reply.usage, finish_reason=reply.finish_reason
        )


def json_object(value: object) -> dict[str, Any]:
    """`value` when it is a JSON object; TypeError (a malformed answer) otherwise."""
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    return value


def text(value: object, *, required: bool = False) -> str:
    """A text field of an answer: absent (None) is "" unless `required`; anything but a string
    raises (a malformed answer)."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def tokens(value: object) -> int:
    """A token count of an answer: absent is 0; anything but a non-negative integer raises
    (a malformed answer)."""
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"not a token count: {value!r}")
    return value


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


@dataclass(frozen=True)
class SDKErrors:
    """Which exception classes of an SDK (and of its HTTP transport) mean what.

    `sdk`: the root classes, all translated (with `MALFORMED`); `timeout`: no answer in time;
    `status`: an HTTP error answer (`.status_code`, `.body`); `connection`: not reached (checked
    after `timeout`, whose classes may derive from it); `failure`: other SDK errors whose `.body`
    or `.message` says what failed. Anything else caught is a malformed answer.
    """

    sdk: ErrorClasses
    timeout: ErrorClasses
    status: ErrorClasses
    connection: ErrorClasses
    failure: ErrorClasses = ()

    @property
    def caught(self) -> ErrorClasses:
        """Every class a provider call translates into a `ProviderError`."""
        return (*self.sdk, *MALFORMED)


class _StatusError(Protocol):
    status_code: int
    body: object


class _FailureError(Protocol):
    message: str
    body: object


class UpstreamStream(Protocol):
    """An SDK's stream of chunks: iterating reads the HTTP response, `close()` closes it."""

    def __iter__(self) -> Iterator[Any]: ...

    def close(self) -> None:
        """Close the HTTP response."""


ClientT = TypeVar("ClientT")


class SDKProvider(BaseProvider, Generic[ClientT]):
    """A provider on an SDK client: the error translation and the streaming loop.

    Subclasses set `name` and `errors`, and implement `_create` and `_read` (a whole answer), and
    `_open_stream` and `_read_chunk` (a stream).
    """

    errors: ClassVar[SDKErrors]

    def __init__(self, client: ClientT) -> None:
        self.client = client

    @abstractmethod
    def _create(self, request: CompletionRequest, *, model: str, timeout: float) -> Any:
        """The SDK's whole answer to `request`."""

    @abstractmethod
    def _read(self, response: Any) -> Reply:
        """The text, usage and finish reason of an answer from `_create`."""

    @abstractmethod
    def _open_stream(
        self, request: CompletionRequest, *, model: str, timeout: float
    ) -> UpstreamStream:
        """The SDK's stream of `request`'s answer."""

    @abstractmethod
    def _read_chunk(self, chunk: Any, reply: Reply) -> list[str]:
        """The texts of one chunk of `_open_stream`; its usage and finish reason go in `reply`."""

    def map_error(self, error: Exception) -> ProviderError:
        """Translate an SDK (or transport) error, or a malformed answer, into a `ProviderError`."""
        name = self.name
        if isinstance(error, self.errors.timeout):
            return ProviderTimeout(f"{name} did not answer in time", provider=name)
        if isinstance(error, self.errors.status):
            answered = cast(_StatusError, error)
            message = provider_message(answered.body, f"{name} answered {answered.status_code}")
            return status_error(name, answered.status_code, message)
        if isinstance(error, self.errors.connection):
            return ProviderUnavailable(f"{name} could not be reached", provider=name)
        if isinstance(error, self.errors.failure):
            failed = cast(_FailureError, error)
            message = provider_message(failed.body, failed.message or f"{name} failed")
            return ProviderUnavailable(message, provider=name)
        return ProviderUnavailable(f"{name} sent a malformed answer", provider=name)

    def _answer(self, request: CompletionRequest, *, model: str, timeout: float) -> Reply:
        try:
            return self._read(self._create(request, model=model, timeout=timeout))
        except self.errors.caught as error:
            raise self.map_error(error) from error

    def _deltas(
        self, request: CompletionRequest, *, model: str, timeout: float
    ) -> Generator[TextDelta, None, Reply]:
        try:
            upstream = self._open_stream(request, model=model, timeout=timeout)
        except self.errors.caught as error:
            raise self.map_error(error) from error
        reply = Reply()
        try:
            chunks = iter(upstream)
            while True:
                # Only reading is translated: what is thrown in at a `yield` passes as it is.
                try:
                    texts = self._read_chunk(next(chunks), reply)
                except StopIteration:
                    break
                except self.errors.caught as error:
                    raise self.map_error(error) from error
                for text in texts:
                    if text:
                        yield TextDelta(text)
        finally:
            upstream.close()
        return reply
