"""Handlers of the fault suite's Stripe event types, for its Celery worker (`--include`).

They register on import, in the worker only (the test process never imports this module), for
event types Stripe never sends. `faults.slow` applies its effect (one ledger row under
EFFECT_PROVIDER) inside the processing transaction, then waits until the test says go (a plain
Redis key): the test restarts PostgreSQL meanwhile.
"""

from __future__ import annotations

import time

from django_redis import get_redis_connection

from webhooks.models import WebhookEvent
from webhooks.registry import register

RECORDED = "faults.recorded"
SLOW = "faults.slow"
EFFECT_PROVIDER = "faults-effect"
WAIT_SECONDS = 30


def signal_key(event_id: str, what: str) -> str:
    """Where the handler and the test meet (`started`, `go`)."""
    return f"faults:{event_id}:{what}"


def recorded(event: WebhookEvent) -> None:
    """Nothing to do: the event ends `processed`."""


def slow(event: WebhookEvent) -> None:
    """Apply the effect, then (first attempt only) wait for the test, then touch the database."""
    WebhookEvent.objects.get_or_create(
        provider=EFFECT_PROVIDER,
        event_id=event.event_id,
        defaults={"event_type": "faults.effect", "payload": {}, "raw_body": "{}"},
    )
    redis = get_redis_connection("default")
    if event.attempts == 1:
        redis.set(signal_key(event.event_id, "started"), 1, ex=120)
        deadline = time.monotonic() + WAIT_SECONDS
        while not redis.get(signal_key(event.event_id, "go")) and time.monotonic() < deadline:
            time.sleep(0.05)
    # Still inside the transaction: after a restart its connection is gone.
    WebhookEvent.objects.filter(pk=event.pk).exists()


register("stripe", RECORDED, recorded)
register("stripe", SLOW, slow)
