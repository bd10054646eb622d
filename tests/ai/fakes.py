"""A local fake of the OpenAI Chat Completions and Anthropic Messages APIs, for the real SDKs.

The openai and anthropic SDKs talk HTTP through `httpx2`, which respx cannot intercept, so the
tests point the SDKs' `base_url` at this real HTTP server running in a thread (a
`tests.fakes.FakeServer`). It speaks:

- OpenAI Chat Completions: `POST /v1/chat/completions`, `POST /chat/completions` and any path
  ending in `/chat/completions` (Gemini's OpenAI-compatible base URL `.../v1beta/openai`), as JSON
  or as SSE chunks when `"stream": true` (with the final usage chunk when
  `stream_options.include_usage` is set, then `data: [DONE]`).
- Anthropic Messages: `POST /v1/messages`, as JSON or as SSE events (`message_start`,
  `content_block_start`, `content_block_delta`, `content_block_stop`, `message_delta`,
  `message_stop`) when `"stream": true`.

Each request takes the next scripted `Reply` (see `FakeAI.reply`, `fail`, `hang`,
`break_stream`); with none left it answers `FakeAI.default`. Every request is recorded
(`FakeAI.requests`: path, lower-cased headers, JSON body) with two events: `completed` (the whole
answer was written) and `disconnected` (the client went away before the end of the answer,
seen while the server waited or wrote).

Use from any test package:

    from tests.ai.fakes import FakeAI, use_fake_ai

    @pytest.fixture
    def fake_ai(settings):
        with FakeAI.running() as fake:
            use_fake_ai(settings, fake, "openai", "anthropic")  # keys + base URLs + no echo
            yield fake

    def test_something(fake_ai):
        fake_ai.reply("Hello\nworld", prompt_tokens=7, completion_tokens=2)
        ...                                          # call the API / the router
        assert fake_ai.requests[0].body["model"] == "gpt-4o-mini"

`FakeAI.running()` starts a server and stops it on exit; `fake.url` is its base URL
(`http://127.0.0.1:<port>`). `use_fake_ai` points the named providers at it (`OPENAI_BASE_URL` =
`<url>/v1`, `ANTHROPIC_BASE_URL` = `<url>`, `GEMINI_BASE_URL` = `<url>/v1beta/openai`) with test
keys, sets the first as AI_DEFAULT_PROVIDER, the others as AI_FALLBACK_PROVIDERS, and turns echo
off. Start one fake per provider when a test must script providers separately, and point each
provider at its own with `point_provider(settings, "anthropic", other_fake)`. `BrokenCache` is a
cache backend that fails every call (a Redis outage).
"""

from __future__ import annotations

import itertools
import json
import re
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.core.cache.backends.base import BaseCache

from tests.fakes import FakeHandler, FakeServer, Request

OPENAI_KEY = "sk-test-openai-fake"
ANTHROPIC_KEY = "sk-ant-test-fake"
GEMINI_KEY = "gemini-test-fake"
WORDS = re.compile(r"\S+\s*|\s+")


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    `status` other than 200 answers an error body of that status (`message` in the provider's
    error shape). `hang` waits that many seconds before answering anything (a timeout test).
    `body`, when not None, is the JSON of a 200 answer in place of the provider's own shape (a
    malformed answer). `chunks` are the streamed pieces (default: `text` split into words,
    spaces kept); `chunk_delay` waits between them. `break_after` closes the connection
    abruptly after that many text chunks; `error_after` sends the provider's in-stream error
    after that many chunks.
    """

    text: str = "Hello from the fake"
    prompt_tokens: int = 5
    completion_tokens: int = 4
    finish_reason: str | None = None
    status: int = 200
    message: str = "fake failure"
    hang: float = 0.0
    chunks: tuple[str, ...] | None = None
    chunk_delay: float = 0.0
    break_after: int | None = None
    error_after: int | None = None
    model: str | None = None
    body: Any = None

    def pieces(self) -> list[str]:
        """The streamed text chunks."""
        return list(self.chunks) if self.chunks is not None else WORDS.findall(self.text)


@dataclass
class RecordedRequest:
    """One request the fake received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    completed: threading.Event = field(default_factory=threading.Event)
    disconnected: threading.Event = field(default_factory=threading.Event)

    @property
    def stream(self) -> bool:
        """Whether the client asked for a stream."""
        return bool(self.body.get("stream"))


class ClientGone(Exception):
    """The client closed the connection before the answer ended."""


class _Handler(FakeHandler):
    """Writes streams, and notices a client that goes away while it waits or writes."""

    def sse(self, events: Iterator[tuple[str | None, str] | None], reply: Reply) -> None:
        """Write `events` as chunked SSE; a None event is a pause point between text chunks."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        for event in events:
            if event is None:
                if reply.chunk_delay:
                    self.wait(reply.chunk_delay)
                continue
            if event == ("", "__break__"):
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            name, data = event
            text = (f"event: {name}\n" if name else "") + f"data: {data}\n\n"
            self._chunk(text.encode())
        self._chunk(b"")

    def _chunk(self, data: bytes) -> None:
        if self._client_gone():
            raise ClientGone
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _client_gone(self) -> bool:
        """True when the peer closed its end (readable with nothing to read)."""
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def wait(self, seconds: float) -> None:
        """Sleep `seconds`, returning early (ClientGone) when the client goes away."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.fake.stopping.is_set():
                raise ClientGone
            select.select([self.connection], [], [], min(left, 0.02))
            if self._client_gone():
                raise ClientGone


@dataclass
class FakeAI(FakeServer):
    """The fake server; see the module docstring."""

    default: Reply = field(default_factory=Reply)
    requests: list[RecordedRequest] = field(default_factory=list)

    protocol_version: ClassVar[str] = "HTTP/1.1"
    handler_class: ClassVar[type[FakeHandler]] = _Handler

    def __post_init__(self) -> None:
        super().__post_init__()
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    # --- scripting ----------------------------------------------------------------------------
    def push(self, reply: Reply, *, times: int = 1) -> None:
        """Answer the next `times` requests with `reply`."""
        with self._lock:
            self._script.extend([reply] * times)

    def reply(self, text: str = "Hello from the fake", *, times: int = 1, **options: Any) -> None:
        """Answer the next request(s) with `text` (options: see `Reply`)."""
        self.push(Reply(text=text, **options), times=times)

    def fail(self, status: int = 500, *, times: int = 1, message: str = "fake failure") -> None:
        """Answer the next request(s) with an error of `status`."""
        self.push(Reply(status=status, message=message), times=times)

    def hang(self, seconds: float, *, times: int = 1) -> None:
        """Answer the next request(s) only after `seconds` (the client times out first)."""
        self.push(Reply(hang=seconds), times=times)

    def break_stream(self, after: int, *, text: str = "one two three four", times: int = 1) -> None:
        """Stream `after` chunks of `text`, then drop the connection."""
        self.push(Reply(text=text, break_after=after), times=times)

    def _next(self) -> Reply:
        with self._lock:
            return self._script.popleft() if self._script else self.default

    # --- assertions ---------------------------------------------------------------------------
    def wait_for_disconnect(self, index: int = -1, timeout: float = 5.0) -> bool:
        """Whether request `index`'s client went away within `timeout` seconds."""
        return self.requests[index].disconnected.wait(timeout)

    def paths(self) -> list[str]:
        """The paths of the requests received, in order."""
        return [request.path for request in self.requests]

    # --- serving ------------------------------------------------------------------------------
    def serve(self, handler: FakeHandler, request: Request) -> None:
        """Answer one request with the next scripted reply, as JSON or as a stream."""
        assert isinstance(handler, _Handler)
        try:
            body = request.json()
        except ValueError:
            body = {}
        path = request.path
        record = RecordedRequest(path=path, headers=request.headers, body=body)
        self.requests.append(record)
        if path.endswith("/chat/completions"):
            api = "openai"
        elif path.endswith("/messages"):
            api = "anthropic"
        else:
            handler.send_json(404, {"error": {"message": f"no route {path}", "type": "not_found"}})
            record.completed.set()
            return
        reply = self._next()
        try:
            if reply.hang:
                handler.wait(reply.hang)
            if reply.status != 200:
                handler.send_json(reply.status, _error_body(api, reply.status, reply.message))
            elif reply.body is not None:
                handler.send_json(200, reply.body)
            elif not record.stream:
                handler.send_json(
                    200,
                    _openai_json(self, body, reply)
                    if api == "openai"
                    else (_anthropic_json(self, body, reply)),
                )
            elif api == "openai":
                handler.sse(_openai_events(self, body, reply), reply)
            else:
                handler.sse(_anthropic_events(self, body, reply), reply)
            record.completed.set()
        except (ClientGone, OSError):
            record.disconnected.set()
            handler.close_connection = True


def _error_body(api: str, status: int, message: str) -> dict[str, Any]:
    if api == "anthropic":
        kind = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error"}
        return {
            "type": "error",
            "error": {"type": kind.get(status, "api_error"), "message": message},
        }
    return {
        "error": {
            "message": message,
            "type": "server_error" if status >= 500 else "invalid_request_error",
            "code": None,
        }
    }


def _model(body: dict[str, Any], reply: Reply) -> str:
    return reply.model or str(body.get("model") or "fake-model")


def _openai_json(fake: FakeAI, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{next(fake._ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": _model(body, reply),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text},
                "finish_reason": reply.finish_reason or "stop",
            }
        ],
        "usage": {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        },
    }


def _openai_events(
    fake: FakeAI, body: dict[str, Any], reply: Reply
) -> Iterator[tuple[str | None, str] | None]:
    base = {
        "id": f"chatcmpl-{next(fake._ids)}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": _model(body, reply),
    }

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> tuple[None, str]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return None, json.dumps({**base, "choices": [choice], **extra})

    yield chunk({"role": "assistant", "content": ""})
    for index, piece in enumerate(reply.pieces()):
        if reply.break_after is not None and index == reply.break_after:
            yield ("", "__break__")
        if reply.error_after is not None and index == reply.error_after:
            yield None, json.dumps({"error": {"message": reply.message, "type": "server_error"}})
            return
        yield chunk({"content": piece})
        yield None
    yield chunk({}, reply.finish_reason or "stop")
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        }
        yield None, json.dumps({**base, "choices": [], "usage": usage})
    yield None, "[DONE]"


def _anthropic_json(fake: FakeAI, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    return {
        "id": f"msg_{next(fake._ids)}",
        "type": "message",
        "role": "assistant",
        "model": _model(body, reply),
        "content": [{"type": "text", "text": reply.text}],
        "stop_reason": reply.finish_reason or "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": reply.prompt_tokens, "output_tokens": reply.completion_tokens},
    }


def _anthropic_events(
    fake: FakeAI, body: dict[str, Any], reply: Reply
) -> Iterator[tuple[str | None, str] | None]:
    def event(name: str, payload: dict[str, Any]) -> tuple[str, str]:
        return name, json.dumps({"type": name, **payload})

    message: dict[str, Any] = {
        "id": f"msg_{next(fake._ids)}",
        "type": "message",
        "role": "assistant",
        "model": _model(body, reply),
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": reply.prompt_tokens, "output_tokens": 1},
    }
    yield event("message_start", {"message": message})
    yield event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
    yield event("ping", {})
    for index, piece in enumerate(reply.pieces()):
        if reply.break_after is not None and index == reply.break_after:
            yield ("", "__break__")
        if reply.error_after is not None and index == reply.error_after:
            yield event("error", {"error": {"type": "overloaded_error", "message": reply.message}})
            return
        yield event(
            "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}}
        )
        yield None
    yield event("content_block_stop", {"index": 0})
    yield event(
        "message_delta",
        {
            "delta": {"stop_reason": reply.finish_reason or "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": reply.completion_tokens},
        },
    )
    yield event("message_stop", {})


class BrokenCache(BaseCache):
    """A cache backend whose every operation fails, as Redis does when it is down.

    Use it as `settings.CACHES = {"default": {"BACKEND": "tests.ai.fakes.BrokenCache"}}`.
    """

    def __init__(self, location: str = "", params: dict[str, Any] | None = None) -> None:
        super().__init__(params or {})

    def _down(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("cache is down")

    add = get = set = delete = incr = touch = has_key = clear = _down
    get_many = set_many = delete_many = _down


def point_provider(settings: Any, provider: str, fake: FakeAI) -> None:
    """Give `provider` (openai, anthropic, gemini) a test key and `fake`'s base URL."""
    if provider == "openai":
        settings.OPENAI_API_KEY = OPENAI_KEY
        settings.OPENAI_BASE_URL = f"{fake.url}/v1"
    elif provider == "anthropic":
        settings.ANTHROPIC_API_KEY = ANTHROPIC_KEY
        settings.ANTHROPIC_BASE_URL = fake.url
    elif provider == "gemini":
        settings.GEMINI_API_KEY = GEMINI_KEY
        settings.GEMINI_BASE_URL = f"{fake.url}/v1beta/openai"


def use_fake_ai(settings: Any, fake: FakeAI, *providers: str) -> None:
    """Point `providers` (openai, anthropic, gemini) at `fake`: the first is the default.

    `settings` is pytest-django's `settings` fixture (restored after the test). Echo is turned
    off unless named; providers not named keep no key (not configured).
    """
    settings.OPENAI_API_KEY = ""
    settings.ANTHROPIC_API_KEY = ""
    settings.GEMINI_API_KEY = ""
    settings.AI_ECHO_ENABLED = "echo" in providers
    for provider in providers:
        point_provider(settings, provider, fake)
    models = dict(settings.AI_PROVIDER_MODELS)
    models.update(
        {
            "openai": settings.OPENAI_MODEL,
            "anthropic": settings.ANTHROPIC_MODEL,
            "gemini": settings.GEMINI_MODEL,
            "echo": settings.ECHO_MODEL,
        }
    )
    settings.AI_PROVIDER_MODELS = models
    settings.AI_DEFAULT_PROVIDER = providers[0]
    settings.AI_DEFAULT_MODEL = models[providers[0]]
    settings.AI_FALLBACK_PROVIDERS = list(providers[1:])
    settings.AI_TIMEOUT_SECONDS = 5


__all__ = [
    "ANTHROPIC_KEY",
    "GEMINI_KEY",
    "OPENAI_KEY",
    "BrokenCache",
    "FakeAI",
    "RecordedRequest",
    "Reply",
    "point_provider",
    "use_fake_ai",
]
