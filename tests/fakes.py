"""The base of every fake third party: a real HTTP server on a free local port, in a thread.

Third parties are faked at the HTTP boundary only: the project's own clients (SDKs, anymail,
google-auth, the Sentry and OTLP exporters) talk HTTP to a fake, exactly as to the provider. A
fake subclasses `FakeServer` and keeps only its provider's API:

    @dataclass
    class FakeThing(FakeServer):
        def answer(self, request: Request) -> Answer:
            if request.path == "/v1/things" and request.method == "POST":
                return 200, {"id": "thing_1", **request.json()}
            return 404, {"error": "not found"}

    with FakeThing() as thing:                   # or FakeThing.running(...), for fixtures
        settings.THING_API_URL = thing.url       # http://127.0.0.1:<port>
        ...
    assert thing.calls("POST", "/v1/things")[0].form == {...}

The base records every request (`requests`: method, path, query, lower-cased headers, raw body),
can answer slowly (`delay`, for paths under `delay_prefix`), writes JSON answers (`answer`
returns `(status, body)` or `(status, body, headers)`; a body of None is empty), and stops on
exit. `Failures` is the queue of injected errors that fakes offer as `fail(...)`. A fake that
streams overrides `serve` and writes through the handler itself (see tests/ai/fakes.py).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import parse_qsl, urlsplit

# (status, JSON body or None) or (status, body, extra response headers)
Answer = tuple[int, Any] | tuple[int, Any, dict[str, str]]


def free_port() -> int:
    """A local TCP port nothing listens on (for servers that must be told their port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Request:
    """One request a fake received."""

    method: str
    path: str  # without the query string
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        """The body as a form (application/x-www-form-urlencoded)."""
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    def json(self) -> Any:
        """The body as JSON ({} when empty)."""
        return json.loads(self.body or b"{}")


@dataclass
class Failure:
    status: int
    times: int = 1
    path_prefix: str = ""
    details: dict[str, Any] = field(default_factory=dict)


class Failures:
    """Errors to answer instead of the real thing: each for its next `times` requests under its
    `path_prefix`, in the order they were added."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[Failure] = []

    def add(self, status: int, *, times: int = 1, path_prefix: str = "", **details: Any) -> None:
        with self._lock:
            self._queue.append(Failure(status, times, path_prefix, details))

    def take(self, path: str) -> Failure | None:
        """The failure that answers a request for `path`, if any (one of its times is used)."""
        with self._lock:
            for failure in self._queue:
                if failure.times > 0 and path.startswith(failure.path_prefix):
                    failure.times -= 1
                    return failure
        return None


class FakeHandler(BaseHTTPRequestHandler):
    """Reads a request into a `Request` and hands it to its fake; writes JSON answers."""

    fake: FakeServer
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        self.fake.serve(self, request)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        """Answer `status` with `payload` as JSON (no body for None), plus `headers`."""
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", self.fake.content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in {**self.fake.response_headers, **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


@dataclass
class FakeServer:
    """A fake third party's HTTP server; see the module docstring. `url` once started."""

    requests: list[Any] = field(default_factory=list)
    delay: float = 0.0
    delay_prefix: str = ""

    protocol_version: ClassVar[str] = "HTTP/1.0"
    content_type: ClassVar[str] = "application/json"
    response_headers: ClassVar[dict[str, str]] = {}
    handler_class: ClassVar[type[FakeHandler]] = FakeHandler

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        """Listen on a free local port and serve in a daemon thread."""
        handler = type(
            f"{type(self).__name__}Handler",
            (self.handler_class,),
            {"fake": self, "protocol_version": self.protocol_version},
        )
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits for the loop to notice.
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        """Stop serving (answers that wait give up: `stopping` is set)."""
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @classmethod
    @contextlib.contextmanager
    def running(cls, **fields: Any) -> Iterator[Self]:
        """A started fake (made with `fields`), stopped on exit."""
        with cls(**fields) as fake:
            yield fake

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        assert self._server is not None, "the fake is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- recorded requests --------------------------------------------------------------------

    def calls(self, method: str, fragment: str = "") -> list[Any]:
        """Recorded requests with this method whose path contains `fragment`."""
        with self.lock:
            return [r for r in self.requests if r.method == method and fragment in r.path]

    # --- serving ------------------------------------------------------------------------------

    def serve(self, handler: FakeHandler, request: Request) -> None:
        """Record `request`, wait `delay` if its path is under `delay_prefix`, write `answer`."""
        with self.lock:
            self.requests.append(request)
        if self.delay and request.path.startswith(self.delay_prefix):
            time.sleep(self.delay)
        status, payload, *headers = self.answer(request)
        # The client may have given up (a timeout test).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            handler.send_json(status, payload, headers[0] if headers else None)

    def answer(self, request: Request) -> Answer:
        """The provider's answer to `request`: override it."""
        return 404, {"error": f"no route {request.method} {request.path}"}
