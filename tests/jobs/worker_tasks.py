"""Test-only tasks for real Celery workers, which import this module with `--include`.

Each task leaves its traces in Redis (shared with the test process) under plain keys outside the
cache's prefix, and its effects in the shared database. Tests send them to their own queue
(`QUEUE`), so a test's worker takes nothing else and nothing else takes them.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from celery import shared_task
from django_redis import get_redis_connection

from config.celery import retrying_task
from webhooks.models import WebhookEvent

QUEUE = "groundwork-jobs-test"
EFFECT_PROVIDER = "jobs-test"
TTL = 600


def key(token: str, what: str) -> str:
    """Where a task notes `what` for the run `token`."""
    return f"jobs-worker-test:{token}:{what}"


def redis_value(name: str) -> str | None:
    """A plain Redis key's value as text (what a task noted, read by the test)."""
    value = get_redis_connection("default").get(name)
    return value.decode() if value is not None else None


def redis_list(name: str) -> list[str]:
    """A plain Redis list as text."""
    return [item.decode() for item in get_redis_connection("default").lrange(name, 0, -1)]


def _note_attempt(token: str) -> int:
    redis = get_redis_connection("default")
    attempt = int(redis.incr(key(token, "attempts")))
    redis.rpush(key(token, "pids"), os.getpid())
    redis.rpush(key(token, "times"), repr(time.time()))
    for what in ("attempts", "pids", "times"):
        redis.expire(key(token, what), TTL)
    return attempt


@retrying_task(max_retries=3)
def apply_once(token: str, sleep_seconds: float) -> int:
    """Apply an idempotent effect (one ledger row per token), then, on the first attempt only,
    sleep: the test kills the worker there. Returns the attempt that finished."""
    attempt = _note_attempt(token)
    WebhookEvent.objects.get_or_create(
        provider=EFFECT_PROVIDER,
        event_id=token,
        defaults={"event_type": "jobs.effect", "payload": {}, "raw_body": "{}"},
    )
    if attempt == 1:
        time.sleep(sleep_seconds)
    get_redis_connection("default").set(key(token, "finished"), attempt, ex=TTL)
    return attempt


@retrying_task(max_retries=5)
def flaky(token: str, failures: int) -> int:
    """Fail the first `failures` attempts, then succeed; returns the attempt that succeeded."""
    attempt = _note_attempt(token)
    if attempt <= failures:
        raise RuntimeError(f"attempt {attempt} fails")
    return attempt


@shared_task(acks_late=True)
def fails_until_allowed(token: str, options: dict[str, Any]) -> str:
    """Fail (no retries) until the test allows it; notes the arguments each attempt received."""
    _note_attempt(token)
    redis = get_redis_connection("default")
    redis.rpush(key(token, "received"), json.dumps({"token": token, "options": options}))
    redis.expire(key(token, "received"), TTL)
    if not redis.get(key(token, "allowed")):
        raise ValueError("not allowed yet")
    return "allowed"


@shared_task(acks_late=True)
def tick(token: str) -> None:
    """A scheduled task: counts its runs."""
    _note_attempt(token)
