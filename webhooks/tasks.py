"""Background work for webhooks: process a stored event (with retries), sweep lost ones, purge
old settled ones."""

from __future__ import annotations

from datetime import timedelta

from celery.exceptions import Retry
from django.conf import settings

from config.celery import Backoff, RetryingTask, retrying_task
from webhooks.services import webhook_process, webhook_purge_old, webhook_requeue_stale

# WEBHOOK_RETRY_BACKOFF_SECONDS doubled per retry, capped at WEBHOOK_RETRY_BACKOFF_MAX_SECONDS,
# with "equal jitter": a random point in the upper half, so retries of events that failed
# together spread out yet keep a minimum spacing.
WEBHOOK_BACKOFF = Backoff(
    base="WEBHOOK_RETRY_BACKOFF_SECONDS",
    ceiling="WEBHOOK_RETRY_BACKOFF_MAX_SECONDS",
    jitter="equal",
)


def retry_countdown(*, retries: int) -> float:
    """Seconds before the retry of an event that follows `retries` earlier retries."""
    return WEBHOOK_BACKOFF.countdown(retries=retries)


# The project's retry policy (`retrying_task`), but the task retries itself: it tells the ledger
# when the next attempt runs, so the countdown is computed before the attempt. The retry limit is
# WEBHOOK_MAX_RETRIES, read when the task runs (so tests and operators can change it); Celery's
# own max_retries is passed to each retry() call.
@retrying_task(bind=True, autoretry_for=(), max_retries=None, backoff=WEBHOOK_BACKOFF)
def process_webhook_event(self: RetryingTask, event_id: str) -> str | Retry | None:
    """Process one stored event; on failure retry with back-off, then leave it `failed`.

    Safe to run any number of times for the same event. Returns the event's status (or, run
    eagerly, the Retry that Celery runs next).
    """
    max_retries: int = settings.WEBHOOK_MAX_RETRIES
    retries = self.request.retries
    retry_in = self.backoff.countdown(retries=retries) if retries < max_retries else None
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


@retrying_task()
def retry_stale_webhook_events() -> int:
    """Periodic: re-enqueue events whose processing was lost (see `webhook_requeue_stale`)."""
    return webhook_requeue_stale(older_than=timedelta(minutes=settings.WEBHOOK_STALE_AFTER_MINUTES))


@retrying_task()
def purge_old_webhook_events() -> int:
    """Weekly (beat): delete processed and ignored events older than WEBHOOK_RETENTION_DAYS and
    failed ones older than WEBHOOK_FAILED_RETENTION_DAYS; returns how many. Safe to run twice."""
    return webhook_purge_old(
        older_than=timedelta(days=settings.WEBHOOK_RETENTION_DAYS),
        failed_older_than=timedelta(days=settings.WEBHOOK_FAILED_RETENTION_DAYS),
    )
