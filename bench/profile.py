"""One steady-state request, itemised: where the microseconds of an endpoint go.

`make bench` calls `itemise` in its own process, with the server's settings (production,
PostgreSQL through the connection pool, Redis for the cache and the limits, JSON access logs) and
the seeded database, before it starts the server. Each request goes through Django's WSGI
handler exactly as gunicorn hands it over (the response is iterated and closed, so the
connection goes back to the pool and `request_finished` runs), one at a time on one thread.

Probes wrap each middleware and the functions that do a known piece of work (token
verification, the user cache, the limits, the usage counter, SQL, Redis round trips, metrics,
log lines, serialization...). Each probe keeps its exclusive time: its own time minus that of
the probes it calls, so the items add up to the instrumented request. What no probe covers (the
handler, request and response objects, URL routing's callers, DRF's dispatch) is the view
framework's own line. The probes cost a little themselves; the report gives the request's time
with and without them, measured alternately, so their cost is visible.

Not included: the HTTP server's parsing and the socket (the bare ceilings of `make bench` show
that part), and contention between threads.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import io
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

# (where, attribute, label): `where` is a module or a class ("module:Class"); the attribute is
# replaced by a timing wrapper for the profile and restored afterwards. Patched where the callers
# look the name up, so a function imported by name is patched in the importing module.
PROBES: list[tuple[str, str, str]] = [
    ("accounts.authentication", "verify_token", "token verification (JWT)"),
    ("accounts.authentication:AuthFailureLimiter", "check", "auth failure limiter"),
    ("accounts.services", "user_get_cached", "user cache"),
    ("accounts.authentication", "user_record_login", "last login refresh"),
    ("config.throttling:ScopedRateThrottle", "allow_request", "rate limit"),
    ("usage.middleware", "usage_record", "usage counter"),
    ("django.urls.resolvers:URLResolver", "resolve", "URL routing"),
    ("django.db.backends.base.base:BaseDatabaseWrapper", "connect", "connection pool"),
    ("django.db.backends.base.base:BaseDatabaseWrapper", "close", "connection pool"),
    ("django.db.backends.base.base:BaseDatabaseWrapper", "_close", "connection pool"),
    (
        "django.db.backends.base.base:BaseDatabaseWrapper",
        "close_if_unusable_or_obsolete",
        "connection pool",
    ),
    ("psycopg:Cursor", "execute", "SQL (PostgreSQL round trip)"),
    ("psycopg:Cursor", "fetchmany", "SQL (PostgreSQL round trip)"),
    ("psycopg:Cursor", "fetchall", "SQL (PostgreSQL round trip)"),
    ("psycopg:Cursor", "fetchone", "SQL (PostgreSQL round trip)"),
    ("redis.connection:AbstractConnection", "send_packed_command", "Redis round trip"),
    ("redis.connection:AbstractConnection", "read_response", "Redis round trip"),
    ("prometheus_client.metrics:Counter", "inc", "metrics"),
    ("prometheus_client.metrics:Gauge", "inc", "metrics"),
    ("prometheus_client.metrics:Gauge", "dec", "metrics"),
    ("prometheus_client.metrics:Gauge", "set", "metrics"),
    ("prometheus_client.metrics:Histogram", "observe", "metrics"),
    ("prometheus_client.metrics:MetricWrapperBase", "labels", "metrics"),
    ("logging:Handler", "handle", "log lines (format and write)"),
    ("rest_framework.serializers:Serializer", "to_representation", "serializers"),
    ("rest_framework.serializers:ListSerializer", "to_representation", "serializers"),
    ("drf_orjson_renderer.renderers:ORJSONRenderer", "render", "rendering (orjson)"),
    ("rest_framework.views:APIView", "dispatch", "DRF dispatch and the view"),
]
HANDLER_LABEL = "Django's handler (request and response objects, signals)"
# Counted apart to tell round trips: a pipeline sends once and reads one reply per command.
REDIS_SEND = "redis send"


@dataclass
class Request:
    """One request to itemise: a name and the WSGI environ keys that differ from a plain GET."""

    name: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Profile:
    """Exclusive microseconds per item, averaged over the measured requests."""

    name: str
    items: dict[str, float]
    redis_round_trips: float
    instrumented_us: float
    plain_us: float
    statuses: set[int]


class Timer:
    """Exclusive time per label over nested timed calls on one thread."""

    def __init__(self) -> None:
        self.totals: dict[str, int] = defaultdict(int)
        self.calls: dict[str, int] = defaultdict(int)
        self._nested: list[int] = []

    def wrap(self, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        sends = getattr(function, "__name__", "") == "send_packed_command"

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._nested.append(0)
            started = time.perf_counter_ns()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter_ns() - started
                self.totals[label] += elapsed - self._nested.pop()
                self.calls[label] += 1
                if sends:
                    self.calls[REDIS_SEND] += 1
                if self._nested:
                    self._nested[-1] += elapsed

        return timed

    def reset(self) -> None:
        self.totals.clear()
        self.calls.clear()


def _resolve(where: str) -> Any:
    module_name, _, class_name = where.partition(":")
    target: Any = importlib.import_module(module_name)
    return getattr(target, class_name) if class_name else target


@contextlib.contextmanager
def probes(timer: Timer) -> Iterator[None]:
    """Install the function probes; restore the originals on exit."""
    installed: list[tuple[Any, str, Any]] = []
    try:
        for where, attribute, label in PROBES:
            target = _resolve(where)
            original = inspect.getattr_static(target, attribute)
            if isinstance(original, staticmethod | classmethod):
                wrapped: Any = type(original)(timer.wrap(label, original.__func__))
            else:
                wrapped = timer.wrap(label, original)
            setattr(target, attribute, wrapped)
            installed.append((target, attribute, original))
        yield
    finally:
        for target, attribute, original in reversed(installed):
            setattr(target, attribute, original)


def _middleware_label(path: str) -> str:
    return "middleware: " + path.rsplit(".", 1)[-1].removesuffix("Middleware")


def _timed_middleware(timer: Timer, label: str, factory: Callable[..., Any]) -> Callable[..., Any]:
    """A middleware factory that times `factory`'s middleware (and its process_view)."""

    def build(get_response: Callable[..., Any]) -> Callable[..., Any]:
        inner = factory(get_response)
        middleware = timer.wrap(label, inner)
        for hook in ("process_view", "process_exception", "process_template_response"):
            if hasattr(inner, hook):
                timed_hook: Any = timer.wrap(label, getattr(inner, hook))
                timed_hook.__self__ = inner  # Django's error messages name the middleware by it
                setattr(middleware, hook, timed_hook)
        return middleware

    return build


def _handler(timer: Timer | None) -> Any:
    """Django's WSGI handler, its middleware timed when `timer` is given."""
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.utils.module_loading import import_string

    handler = WSGIHandler()
    if timer is None:
        return handler
    # Rebuild the chain from timed factories: Django's load_middleware takes dotted paths, so
    # the factories are published on this module under generated names for the rebuild.
    names = []
    for index, path in enumerate(settings.MIDDLEWARE):
        name = f"_middleware_{index}"
        globals()[name] = _timed_middleware(timer, _middleware_label(path), import_string(path))
        names.append(f"{__name__}.{name}")
    original = settings.MIDDLEWARE
    settings.MIDDLEWARE = names
    try:
        handler.load_middleware()
    finally:
        settings.MIDDLEWARE = original
    return handler


def _environ(request: Request) -> dict[str, Any]:
    path, _, query = request.path.partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST" if request.body else "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if request.body:
        environ["CONTENT_TYPE"] = "application/json"
        environ["CONTENT_LENGTH"] = str(len(request.body))
    for name, value in request.headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def _serve(handler: Any, request: Request) -> int:
    """One request through `handler`, its body read and the response closed."""
    statuses: list[str] = []
    body = handler(_environ(request), lambda status, headers, *args: statuses.append(status))
    try:
        for _chunk in body:
            pass
    finally:
        body.close()
    return int(statuses[0].split()[0])


def itemise(requests: list[Request], *, count: int = 2000, warmup: int = 200) -> list[Profile]:
    """Profile `count` steady-state requests of each kind after `warmup` unmeasured ones."""
    profiles = []
    timer = Timer()
    plain = _handler(None)
    timed = _handler(timer)
    serve_timed = timer.wrap(HANDLER_LABEL, _serve)
    for request in requests:
        statuses = {_serve(plain, request) for _ in range(warmup)}
        timer.reset()
        instrumented_ns = plain_ns = 0
        for _ in range(count):
            # Alternately with and without the probes, so both see the same state.
            with probes(timer):
                started = time.perf_counter_ns()
                statuses.add(serve_timed(timed, request))
                instrumented_ns += time.perf_counter_ns() - started
            started = time.perf_counter_ns()
            statuses.add(_serve(plain, request))
            plain_ns += time.perf_counter_ns() - started
        profiles.append(
            Profile(
                name=request.name,
                items={label: total / count / 1000 for label, total in timer.totals.items()},
                redis_round_trips=timer.calls.get(REDIS_SEND, 0) / count,
                instrumented_us=instrumented_ns / count / 1000,
                plain_us=plain_ns / count / 1000,
                statuses=statuses,
            )
        )
    return profiles


def render(profiles: list[Profile]) -> str:
    """A markdown table: one column per request kind, one row per item, in microseconds."""
    labels = sorted(
        {label for profile in profiles for label in profile.items},
        key=lambda label: -max(profile.items.get(label, 0.0) for profile in profiles),
    )
    header = "| item (exclusive µs per request) | " + " | ".join(p.name for p in profiles) + " |"
    lines = [header, "|---|" + "---:|" * len(profiles)]
    for label in labels:
        cells = " | ".join(f"{profile.items.get(label, 0.0):.0f}" for profile in profiles)
        lines.append(f"| {label} | {cells} |")
    sums = " | ".join(f"**{sum(profile.items.values()):.0f}**" for profile in profiles)
    lines.append(f"| **sum of the items (instrumented request)** | {sums} |")
    plain = " | ".join(f"{profile.plain_us:.0f}" for profile in profiles)
    lines.append(f"| the same request without probes | {plain} |")
    trips = " | ".join(f"{profile.redis_round_trips:.1f}" for profile in profiles)
    lines.append(f"| Redis round trips per request | {trips} |")
    statuses = " | ".join(
        ", ".join(str(status) for status in sorted(profile.statuses)) for profile in profiles
    )
    lines.append(f"| status codes | {statuses} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Itemise the list and users/me against the database `make bench` left (BENCH_DATABASE)."""
    import argparse
    import os

    from bench import run

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    os.environ.update(run.SERVER_ENV)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from accounts.tokens import mint_development_token

    token = mint_development_token(email="bench0@example.com", subject="bench|0", ttl=3600)
    auth = {"Authorization": f"Bearer {token}"}
    requests = [
        Request("projects list", run.ENDPOINTS[0].path, auth),
        Request("users/me", run.ENDPOINTS[1].path, auth),
    ]
    print(render(itemise(requests, count=args.count)))


if __name__ == "__main__":
    main()
