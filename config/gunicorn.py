"""Production server settings: `gunicorn -c config/gunicorn.py config.wsgi:application`.

One worker per core with two threads each (gthread); `make bench` measured the alternatives and
bench/README.md says why. Every value can be changed by environment variable: the AI stream pool
(the `ai` service of docker/compose.yaml) is this file with WEB_CONCURRENCY=2,
GUNICORN_THREADS=64 and a longer GUNICORN_GRACEFUL_TIMEOUT.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
# Each worker accepts on its own socket, so the kernel spreads connections evenly over them.
reuse_port = True
# Import the app once in the master and fork: workers share its memory pages.
preload_app = True
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# Seconds a stopping worker (deploy, recycling) lets open requests finish: open AI streams are
# cut after this, so the stream pool sets it above its longest stream.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
# Recycle workers now and then so a slow leak can never grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = max_requests // 10
# The app writes its own access log line (JSON, with request and user ids).
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "warning")


def when_ready(server: object) -> None:
    """In the master, before the workers fork: load what each worker would load on its first
    request (the URL configuration with every view module, the cache's client, what the apps
    load on `before_workers_fork`), then move every object to the garbage collector's permanent
    generation. The workers then share those pages with the master instead of each copying them
    (a collection in a worker writes to every object it scans, and a written page is no longer
    shared)."""
    import gc

    from django.core.cache import caches
    from django.urls import get_resolver

    from config.signals import before_workers_fork

    get_resolver().url_patterns  # noqa: B018 - imports every view module
    # The cache backend object only: its connections open in each worker, after the fork.
    caches["default"]
    # The apps' own: the SDKs of the configured AI providers (ai.apps).
    before_workers_fork.send(sender=None)
    gc.collect()
    gc.freeze()


def post_fork(server: object, worker: object) -> None:
    """Start trace export in each worker: the exporter's thread would not survive the fork."""
    from config.observability import start_tracing

    start_tracing()


def child_exit(server: object, worker: object) -> None:
    """Let the metrics of a worker that exited be summed as a dead process's (multiprocess mode).

    PROMETHEUS_MULTIPROC_DIR must be emptied before the server starts (a fresh tmpfs, or
    `rm -rf "$PROMETHEUS_MULTIPROC_DIR"/*` in the entrypoint): files left by an earlier run
    would be counted again.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
