"""Test-provider handlers for a real Celery worker, which imports this module with `-I`.

They register on import (in the worker only: the test process never imports this module) and
leave their traces in Redis, which the test process shares with the worker: under plain keys,
outside the cache's prefix, which test runs clear.
"""

from __future__ import annotations

import os

from django_redis import get_redis_connection

from tests.webhooks.provider import PROVIDER
from webhooks.models import WebhookEvent
from webhooks.registry import register

RECORDED = "worker.recorded"
FLAKY = "worker.flaky"


def trace_key(event_id: str) -> str:
    """Where the handler notes which process handled the event."""
    return f"webhooks-worker-test:{event_id}"


def record(event: WebhookEvent) -> None:
    get_redis_connection("default").set(trace_key(event.event_id), os.getpid(), ex=300)


def fail_once(event: WebhookEvent) -> None:
    if get_redis_connection("default").set(
        trace_key(event.event_id) + ":failed", 1, nx=True, ex=300
    ):
        raise RuntimeError("the first attempt fails")
    record(event)


register(PROVIDER, RECORDED, record)
register(PROVIDER, FLAKY, fail_once)
