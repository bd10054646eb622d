"""Real processes for the live tests: gunicorn, Celery workers and beat, any command.

`spawned(command, env)` starts a process in a session of its own (so that it and its children
form one process group), with everything it prints going to a log file (`process.log()`, for
failure messages and for tests that read what it logged); it waits until the process is ready
(`ready` returns something truthy: a URL answers, a line was logged) and fails with the log if it
exits or is not ready in time. On exit it stops it: SIGTERM (a graceful shutdown), then SIGKILL to
the whole group after `stop_timeout` seconds.

`gunicorn(...)` and `celery_worker(...)` build on it; `child_env` is the environment a process
started by a test gets (ours, ENVIRONMENT=test, the test's overrides) and `worker_env` what a
worker needs to share the test's database, Redis and broker. `wait_for` polls a condition and
fails with a process's log.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django_redis import get_redis_connection

from config.celery import app as celery_app
from tests.fakes import free_port

T = TypeVar("T")

BASE_DIR = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
CELERY = Path(sys.executable).with_name("celery")
# Where logs go when a test gives no path (removed when the test run ends).
LOG_DIR = Path(tempfile.mkdtemp(prefix="groundwork-live-"))
atexit.register(shutil.rmtree, LOG_DIR, ignore_errors=True)
# How much of a log a failure message shows (its end).
LOG_TAIL = 10_000
HEALTH = "/api/v1/public/health"
WORKER_READY = re.compile(r"@\S+ ready\.")


@dataclass
class Process:
    """A started process and its log (`url` for a server)."""

    popen: subprocess.Popen[bytes]
    log_path: Path
    log_start: int = 0  # the log's size before it started: a log may be shared
    url: str = ""

    @property
    def pid(self) -> int:
        return self.popen.pid

    def poll(self) -> int | None:
        return self.popen.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.popen.wait(timeout)

    def log(self) -> str:
        """Everything printed to its log so far (by earlier processes sharing it, too)."""
        return self.log_path.read_text(errors="replace")

    def output(self) -> str:
        """What this process printed so far."""
        with open(self.log_path, "rb") as log:
            log.seek(self.log_start)
            return log.read().decode(errors="replace")

    def children(self) -> list[int]:
        """The pids of its child processes (gunicorn's workers, say)."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def running(self) -> bool:
        """True while it runs; fails with its log once it has exited."""
        code = self.poll()
        if code is not None:
            raise AssertionError(f"{self.popen.args!r} exited ({code}):\n{_tail(self.log())}")
        return True

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM, then SIGKILL to its whole process group if it has not exited in `timeout`."""
        if self.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=timeout)
                return
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
        self.popen.wait()


def child_env(overrides: Mapping[str, str]) -> dict[str, str]:
    """Our environment with ENVIRONMENT=test and the test's `overrides` over it."""
    return {**os.environ, "ENVIRONMENT": "test", **overrides}


@contextmanager
def spawned(
    command: list[str],
    env: Mapping[str, str],
    *,
    log_path: Path | None = None,
    ready: Callable[[Process], Any] | None = None,
    what: str | None = None,
    timeout: float = 60,
    stop_timeout: float = 15,
) -> Iterator[Process]:
    """Run `command` from the project folder with exactly `env`; yields it once `ready(process)`
    is truthy (at once without `ready`), stops it afterwards. Its output is appended to
    `log_path` (a new file under LOG_DIR by default)."""
    if log_path is None:
        log_path = LOG_DIR / f"{Path(command[0]).name}-{uuid.uuid4().hex[:8]}.log"
    with open(log_path, "ab") as log:
        start = log.tell()
        popen = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    process = Process(popen, log_path, log_start=start)
    try:
        if ready is not None:
            wait_for(
                lambda: process.running() and ready(process),
                what=what or f"{command[0]} to be ready",
                log=process.output,
                timeout=timeout,
            )
        yield process
    finally:
        process.stop(stop_timeout)


def wait_for(
    check: Callable[[], T],
    *,
    what: str,
    log: Path | Callable[[], str] | None = None,
    timeout: float = 45,
    interval: float = 0.05,
) -> T:
    """Poll `check` until it returns something truthy, and return that; fail after `timeout`
    seconds with the end of `log` (a file, or a function that reads one)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = (
                log.read_text(errors="replace") if isinstance(log, Path) else log() if log else ""
            )
            raise AssertionError(f"timed out waiting for {what}:\n{_tail(text)}")
        time.sleep(interval)


def _tail(text: str) -> str:
    return text[-LOG_TAIL:]


def answers(url: str) -> bool:
    """Whether an HTTP server answers at `url` (any status)."""
    try:
        urllib.request.urlopen(url, timeout=2).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def logged(pattern: str | re.Pattern[str]) -> Callable[[Process], bool]:
    """A `ready` check: the process printed a line matching `pattern`."""
    return lambda process: re.search(pattern, process.output()) is not None


# --- gunicorn ---------------------------------------------------------------------------------


@contextmanager
def gunicorn(
    env: Mapping[str, str],
    *,
    log_path: Path | None = None,
    app: str = "config.wsgi:application",
    workers: int = 1,
    config_file: bool = False,
    ready_path: str = HEALTH,
) -> Iterator[Process]:
    """gunicorn serving `app` on a free local port (`process.url`), with `env` over ours; ready
    once `ready_path` answers and all its `workers` are up.

    With `config_file`, the production configuration (config/gunicorn.py, hooks included), told
    its address and workers by environment as the image does; otherwise plain options (gthread,
    two threads, warnings only).
    """
    port = free_port()
    if config_file:
        command = [str(GUNICORN), "-c", "config/gunicorn.py", app]
        env = {
            **env,
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "WEB_CONCURRENCY": str(workers),
            "GUNICORN_THREADS": "2",
        }
    else:
        command = [
            str(GUNICORN),
            app,
            f"--bind=127.0.0.1:{port}",
            f"--workers={workers}",
            "--threads=2",
            "--worker-class=gthread",
            "--log-level=warning",
        ]
    url = f"http://127.0.0.1:{port}"
    with spawned(
        command,
        child_env(env),
        log_path=log_path,
        ready=lambda process: answers(url + ready_path) and len(process.children()) == workers,
        what=f"gunicorn with {workers} worker(s) at {url}",
        timeout=45,
    ) as process:
        process.url = url
        yield process


# --- Celery -----------------------------------------------------------------------------------


def worker_env(database_url: str, **extra: str) -> dict[str, str]:
    """The variables of a worker or beat sharing the test's database, Redis, broker and cache
    prefix (logging to the console), and `extra`."""
    return {
        "ENVIRONMENT": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ["REDIS_URL"],
        "CELERY_BROKER_URL": str(celery_app.conf.broker_url),
        "CACHE_KEY_PREFIX": settings.CACHE_KEY_PREFIX,
        "LOG_FORMAT": "console",
        **extra,
    }


@contextmanager
def celery(
    args: list[str],
    env: Mapping[str, str],
    *,
    log_path: Path | None = None,
    ready: Callable[[Process], Any] | None = None,
) -> Iterator[Process]:
    """`celery -A config <args>` with `env` over ours (beat, say)."""
    with spawned(
        [str(CELERY), "-A", "config", *args],
        child_env(env),
        log_path=log_path,
        ready=ready,
        what=f"celery {args[0]} to be ready",
    ) as process:
        yield process


@contextmanager
def celery_worker(
    env: Mapping[str, str],
    *,
    log_path: Path | None = None,
    name: str | None = None,
    queue: str | None = None,
    include: str | None = None,
    pool: str = "solo",
    concurrency: int | None = None,
) -> Iterator[Process]:
    """`celery -A config worker` with `env` over ours, yielded once it is ready: node `name`
    (`celery` by default), on `queue` (the default queue by default), importing `include` too;
    without gossip, mingle or heartbeat, so it starts at once and keeps to itself."""
    args = ["worker", f"--pool={pool}"]
    if concurrency is not None:
        args.append(f"--concurrency={concurrency}")
    if queue is not None:
        args.append(f"--queues={queue}")
    if name is not None:
        args.append(f"--hostname={name}@%h")
    if include is not None:
        args.append(f"--include={include}")
    args += ["--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=info"]
    with celery(args, env, log_path=log_path, ready=logged(WORKER_READY)) as process:
        yield process


@contextmanager
def sending_to_broker() -> Iterator[None]:
    """Tasks sent from the test process go to the broker (the test session runs them eagerly)."""
    celery_app.conf.task_always_eager = False
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = True


def default_queue() -> str:
    """Where tasks go when nothing routes them elsewhere, from this process and a worker alike."""
    return str(celery_app.conf.task_default_queue)


def purge_queues(*names: str) -> None:
    """Drop the messages an earlier, interrupted run left in these queues (of the test Redis)."""
    get_redis_connection("default").delete(*names)
