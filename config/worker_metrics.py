"""A Celery worker's own metrics endpoint, so its series reach Prometheus without sharing a
directory with the web server.

With `WORKER_METRICS_PORT` set, `celery -A config worker` serves `GET /metrics` on that port (all
interfaces) once it is ready: the Prometheus text of every process of the worker (the main one
and its prefork pool's children, which run the tasks), `groundwork_jobs_*` and whatever the
tasks record. When `METRICS_TOKEN` is set it requires `Authorization: Bearer <METRICS_TOKEN>`,
like `/api/v1/public/metrics` (staging and production refuse to run without one unless
`METRICS_PUBLIC=true`).

The processes are summed by prometheus_client's multiprocess mode, which reads
`PROMETHEUS_MULTIPROC_DIR` once, when it is imported:

- set (the image sets one per container and its entrypoint empties it), that directory is used;
  it must then not be shared with a web server, whose series would be scraped twice;
- unset, the worker makes a directory of its own before anything imports prometheus_client
  (`config/__init__.py` calls `prepare_worker_process()` first) and removes it when it exits.

Without `WORKER_METRICS_PORT` (the default) nothing changes: a worker's series are only seen
through a `PROMETHEUS_MULTIPROC_DIR` it shares with the web server.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

logger = logging.getLogger(__name__)

PORT_VARIABLE = "WORKER_METRICS_PORT"
DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
METRICS_PATH = "/metrics"
DIRECTORY_PREFIX = "groundwork-worker-metrics-"


class _State:
    """The directory this worker made (to remove at exit) and its running server."""

    directory: str | None = None
    server: WSGIServer | None = None
    lock = threading.Lock()


_state = _State()


def _port_from(environ: dict[str, str] | os._Environ[str]) -> int:
    value = environ.get(PORT_VARIABLE, "").strip()
    return int(value) if value.isdigit() else 0


def is_worker_command(argv: Sequence[str]) -> bool:
    """True for `celery ... worker ...` (or `python -m celery ... worker`), not beat, inspect or
    a web process."""
    if not argv:
        return False
    program = Path(argv[0])
    is_celery = program.name == "celery" or (
        program.name == "__main__.py" and program.parent.name == "celery"
    )
    return is_celery and "worker" in argv[1:]


def prepare_worker_process(
    argv: Sequence[str] | None = None, environ: os._Environ[str] | None = None
) -> str | None:
    """In a Celery worker serving its metrics without PROMETHEUS_MULTIPROC_DIR, make a directory
    of its own for its processes' metrics and name it in the environment (inherited by the pool's
    children); it is removed when the worker exits. Returns the directory made, if any.

    Must run before prometheus_client is first imported: it reads the variable then.
    """
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    if not is_worker_command(argv) or not _port_from(environ) or environ.get(DIRECTORY_VARIABLE):
        return None
    if "prometheus_client" in sys.modules:
        logger.warning("worker metrics: prometheus_client was imported first, children not summed")
        return None
    directory = tempfile.mkdtemp(prefix=DIRECTORY_PREFIX)
    environ[DIRECTORY_VARIABLE] = directory
    _state.directory = directory
    owner = os.getpid()

    def remove() -> None:
        # Only the worker's main process removes it: a pool child exiting leaves it in place.
        if os.getpid() == owner:
            shutil.rmtree(directory, ignore_errors=True)

    atexit.register(remove)
    return directory


# --- The endpoint ------------------------------------------------------------------------------


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No line per scrape (every few seconds, for ever)."""


StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def metrics_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """The WSGI app of the endpoint: GET /metrics, Bearer METRICS_TOKEN when set."""
    import json

    from config.errors import envelope
    from config.health import metrics_token_valid
    from config.metrics import metrics_exposition

    def error(status: str, code: str, message: str, *extra: tuple[str, str]) -> list[bytes]:
        body = json.dumps(envelope(code, message)).encode()
        start_response(status, [("Content-Type", "application/json"), *extra])
        return [body]

    if environ.get("PATH_INFO") != METRICS_PATH:
        return error("404 Not Found", "NOT_FOUND", "Resource not found")
    if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        return error("405 Method Not Allowed", "METHOD_NOT_ALLOWED", "Use GET", ("Allow", "GET"))
    if not metrics_token_valid(environ.get("HTTP_AUTHORIZATION", "")):
        return error(
            "401 Unauthorized",
            "AUTHENTICATION_ERROR",
            "A valid metrics token is required",
            ("WWW-Authenticate", "Bearer"),
        )
    body, content_type = metrics_exposition()
    start_response("200 OK", [("Content-Type", content_type)])
    return [body]


def serve(*, port: int, host: str = "0.0.0.0") -> WSGIServer:  # noqa: S104 - a container port
    """Serve `metrics_app` on `host:port` from a daemon thread; returns the server."""
    server = make_server(
        host, port, metrics_app, server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True)
    thread.start()
    return server


# --- Celery signals ----------------------------------------------------------------------------


def _start_on_worker_ready(**kwargs: Any) -> None:
    """Once the worker (and its pool) is up: serve the metrics when WORKER_METRICS_PORT is set."""
    from django.conf import settings

    port = settings.WORKER_METRICS_PORT
    if not port:
        return
    if not os.environ.get(DIRECTORY_VARIABLE):
        logger.warning(
            "worker metrics: no %s, only the main process's series are served", DIRECTORY_VARIABLE
        )
    with _state.lock:
        if _state.server is not None:
            return
        try:
            _state.server = serve(port=port)
        except OSError as error:
            logger.error("worker metrics not served on port %d: %s", port, error)
            return
    logger.info("worker metrics served on port %d at %s", port, METRICS_PATH)


def _stop_on_worker_shutdown(**kwargs: Any) -> None:
    with _state.lock:
        server, _state.server = _state.server, None
    if server is not None:
        server.shutdown()
        server.server_close()


def _pool_child_exit(pid: int | None = None, **kwargs: Any) -> None:
    """A pool child exited: its gauges stop counting as live (its counters stay summed)."""
    if os.environ.get(DIRECTORY_VARIABLE):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())


def connect_signals() -> None:
    """Connect the worker's signal handlers (from config/celery.py)."""
    from celery import signals

    handlers: list[tuple[Any, Callable[..., None]]] = [
        (signals.worker_ready, _start_on_worker_ready),
        (signals.worker_shutdown, _stop_on_worker_shutdown),
        (signals.worker_process_shutdown, _pool_child_exit),
    ]
    for signal, handler in handlers:
        signal.connect(
            handler, weak=False, dispatch_uid=f"config.worker_metrics.{handler.__name__}"
        )
