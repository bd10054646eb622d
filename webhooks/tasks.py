"""Background work for webhooks: process a stored event (with retries), sweep lost ones, purge
old settled ones."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from celery import Task, shared_task
from celery.exceptions import Retry
from django.conf import settings

from webhooks.services import webhook_process, webhook_purge_old, webhook_requeue_stale


def retry_countdown(*, retries: int) -> float:
    """Seconds before the retry that follows `retries` earlier retries.

    Exponential back-off (WEBHOOK_RETRY_BACKOFF_SECONDS doubled per retry, capped at
    WEBHOOK_RETRY_BACKOFF_MAX_SECONDS) with "equal jitter": a random point in the upper half, so
    retries of events that failed together spread out yet keep a minimum spacing.
    """
    base = settings.WEBHOOK_RETRY_BACKOFF_SECONDS
    ceiling = settings.WEBHOOK_RETRY_BACKOFF_MAX_SECONDS
    delay = float(min(ceiling, base * 2 ** min(retries, 32)))
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not a secret


# The retry limit is WEBHOOK_MAX_RETRIES, read when the task runs (so tests and operators can
# change it); Celery's own max_retries is passed to each retry() call.
@shared_task(bind=True, acks_late=True, max_retries=None)
def process_webhook_event(self: Task[Any, Any], event_id: str) -> str | Retry | None:
    """Process one stored event; on failure retry with back-off, then leave it `failed`.

    Safe to run any number of times for the same event. Returns the event's status (or, run
    eagerly, the Retry that Celery runs next).
    """
    max_retries: int = settings.WEBHOOK_MAX_RETRIES
    retries = self.request.retries
    retry_in = retry_countdown(retries=retries) if retries < max_retries else None
    try:
        event = webhook_process(event_id=event_id, retry_in=retry_in)
    except Exception as error:  # noqa: BLE001 - every failure is retried, then recorded
        # Past max_retries, retry() raises `error` itself: the task fails, the row stays.
        # Run eagerly (no broker), retry() must return its Retry instead of raising it: with
        # eager_propagates the raised Retry would reach the caller, while a returned one makes
        # Celery's apply() run the next attempt at once.
        return self.retry(
            exc=error,
            countdown=retry_in or 0,
            max_retries=max_retries,
            throw=not self.request.is_eager,
        )
    return event.status if event is not None else None


@shared_task(acks_late=True)
def retry_stale_webhook_events() -> int:
    """Periodic: re-enqueue events whose processing was lost (see `webhook_requeue_stale`)."""
    return webhook_requeue_stale(older_than=timedelta(minutes=settings.WEBHOOK_STALE_AFTER_MINUTES))


@shared_task(acks_late=True)
def purge_old_webhook_events() -> int:
    """Weekly (beat): delete processed and ignored events older than WEBHOOK_RETENTION_DAYS
    (failed ones are kept); returns how many. Safe to run twice."""
    return webhook_purge_old(older_than=timedelta(days=settings.WEBHOOK_RETENTION_DAYS))
