"""A real `celery -A config worker` on Redis for the outbox and export tests."""

from __future__ import annotations

import os
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

CELERY = Path(sys.executable).with_name("celery")


def default_queue() -> str:
    """Where `delay()` sends tasks, from this process and from the worker alike."""
    return str(celery_app.conf.task_default_queue)


@contextmanager
def celery_worker(env: dict[str, str], *, log_path: Path) -> Iterator[int]:
    """Run a worker on the default queue (emptied first) with `env`; yields its pid."""
    get_redis_connection("default").delete(default_queue())
    command = [
        str(CELERY),
        "-A",
        "config",
        "worker",
        "--pool=solo",
        f"--queues={default_queue()}",
        "--hostname=accounts-email@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel=info",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def sending_to_broker() -> Iterator[None]:
    """Tasks sent from the test process go to Redis (the test session runs them eagerly)."""
    celery_app.conf.task_always_eager = False
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = True


def wait_for(check: Callable[[], Any], *, timeout: float, what: str, log_path: Path) -> Any:
    """Poll `check` until it returns something truthy; fail with the worker's log otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}:\n{log_path.read_text(errors='replace')}")
