"""Real `celery -A config worker` and `celery -A config beat` processes for the jobs tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django_redis import get_redis_connection

from config.celery import app as celery_app
from tests.jobs.worker_tasks import QUEUE

CELERY = Path(sys.executable).with_name("celery")


def process_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a worker or beat sharing the test's database and Redis."""
    return {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ["REDIS_URL"],
        "CELERY_BROKER_URL": str(celery_app.conf.broker_url),
        "CACHE_KEY_PREFIX": settings.CACHE_KEY_PREFIX,
        "LOG_FORMAT": "console",
        **extra,
    }


@contextmanager
def celery_process(
    args: list[str], env: dict[str, str], *, log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `celery -A config <args>` in a session of its own (so that a test can kill its whole
    process group); stops it afterwards."""
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [str(CELERY), "-A", "config", *args],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def worker_args(name: str, *, queue: str = QUEUE) -> list[str]:
    """A worker with one child process on the test tasks' queue (or another)."""
    return [
        "worker",
        "--pool=prefork",
        "--concurrency=1",
        f"--queues={queue}",
        f"--hostname={name}@%h",
        "--include=tests.jobs.worker_tasks",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel=info",
    ]


def wait_for(check: Callable[[], Any], *, timeout: float, what: str, log_path: Path) -> Any:
    """Poll `check` until it returns something truthy; fail with the process log otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}:\n{log_path.read_text(errors='replace')}")


def redis_value(name: str) -> str | None:
    """A plain Redis key's value as text."""
    value = get_redis_connection("default").get(name)
    return value.decode() if value is not None else None


def redis_list(name: str) -> list[str]:
    """A plain Redis list as text."""
    return [item.decode() for item in get_redis_connection("default").lrange(name, 0, -1)]


@contextmanager
def sending_to_broker() -> Iterator[None]:
    """Tasks sent from the test process go to the broker (the test session runs them eagerly)."""
    celery_app.conf.task_always_eager = False
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = True


def default_queue() -> str:
    """The queue tasks go to when nothing routes them elsewhere."""
    return str(celery_app.conf.task_default_queue)


def purge_test_queues() -> None:
    """Drop messages a previous, interrupted run left in the test queues (of the test Redis)."""
    get_redis_connection("default").delete(QUEUE, default_queue())
