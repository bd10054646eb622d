"""A real Celery worker, fed through Redis, processes and retries events on the shared database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django_redis import get_redis_connection

from config.celery import app as celery_app
from tests.webhooks.provider import PROVIDER
from tests.webhooks.worker_handlers import FLAKY, RECORDED, trace_key
from webhooks.models import WebhookEvent
from webhooks.tasks import process_webhook_event

CELERY = Path(sys.executable).with_name("celery")


@contextmanager
def celery_worker(env: dict[str, str], *, queue: str, log_path: Path) -> Iterator[int]:
    """Run `celery -A config worker` on its own queue; yields its pid, stops it afterwards."""
    command = [
        str(CELERY),
        "-A",
        "config",
        "worker",
        "--pool=solo",
        f"--queues={queue}",
        f"--hostname={queue}@%h",
        "--include=tests.webhooks.worker_handlers",
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


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)")
def test_a_real_worker_processes_and_retries_events_sent_through_the_broker(
    live_database_url, tmp_path
):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the worker and the test must share one database")
    run = uuid.uuid4().hex
    queue = f"webhooks-test-{run}"
    env = {
        "ENVIRONMENT": "test",
        "DATABASE_URL": live_database_url,
        "REDIS_URL": os.environ["REDIS_URL"],
        "CELERY_BROKER_URL": str(celery_app.conf.broker_url),
        "CACHE_KEY_PREFIX": settings.CACHE_KEY_PREFIX,
        "WEBHOOK_RETRY_BACKOFF_SECONDS": "0",
        "LOG_FORMAT": "console",
    }
    events = {
        event_type: WebhookEvent.objects.create(
            provider=PROVIDER,
            event_id=f"evt_{event_type}_{run}",
            event_type=event_type,
            payload={},
            raw_body="{}",
        )
        for event_type in (RECORDED, FLAKY)
    }
    log_path = tmp_path / "worker.log"

    with celery_worker(env, queue=queue, log_path=log_path) as worker_pid:
        celery_app.conf.task_always_eager = False
        try:
            for event in events.values():
                process_webhook_event.apply_async(args=[str(event.pk)], queue=queue)
        finally:
            celery_app.conf.task_always_eager = True
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            statuses = set(
                WebhookEvent.objects.filter(pk__in=[e.pk for e in events.values()]).values_list(
                    "status", flat=True
                )
            )
            if statuses == {WebhookEvent.Status.PROCESSED}:
                break
            time.sleep(0.2)

    log = log_path.read_text(errors="replace")
    recorded = WebhookEvent.objects.get(pk=events[RECORDED].pk)
    flaky = WebhookEvent.objects.get(pk=events[FLAKY].pk)
    assert recorded.status == WebhookEvent.Status.PROCESSED, log
    assert flaky.status == WebhookEvent.Status.PROCESSED, log
    assert recorded.attempts == 1
    assert (flaky.attempts, flaky.last_error) == (2, "RuntimeError: the first attempt fails")
    # Handled in the worker process, not here.
    redis = get_redis_connection("default")
    keys = [trace_key(event.event_id) for event in (recorded, flaky)]
    handled_by = [int(pid) if pid else None for pid in redis.mget(keys)]
    redis.delete(*keys, keys[1] + ":failed")
    assert handled_by == [worker_pid, worker_pid]
    assert worker_pid != os.getpid()
    assert "Retry in" in log
