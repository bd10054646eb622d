"""Writes to the webhook ledger: store an event once, process it once, replay, sweep.

Delivery from providers is at-least-once, workers die, brokers lose messages; the ledger makes
the outcome exactly-once per (provider, event id):

- `webhook_receive` inserts with ON CONFLICT DO NOTHING semantics, so any number of concurrent
  identical deliveries create one row, and only the request whose insert created it enqueues
  processing (after commit).
- `webhook_process` runs the handler inside a transaction holding the row lock, so two tasks for
  the same event (a redelivered message, a sweep, a replay) never run it at the same time, and
  the second one sees the event already settled.
- `webhook_requeue_stale` (a periodic task) re-enqueues events whose task was lost, so nothing
  stays unprocessed.

What is kept is no more than processing needs: `webhook_receive` stores only the fields the
provider's allowlist names (`webhooks.registry.register_payload`), the raw body is emptied once
processing is over, `webhook_events_scrub` removes personal fields from an erased user's events,
and `webhook_purge_old` deletes settled events after their retention.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from config.celery import enqueue_stored_work
from config.errors import BadRequestError
from config.metrics import record_webhook_event
from config.models import delete_in_batches
from webhooks.models import (
    EVENT_ID_MAX_LENGTH,
    EVENT_TYPE_MAX_LENGTH,
    PROVIDER_MAX_LENGTH,
    SUBJECT_MAX_LENGTH,
    WebhookEvent,
)
from webhooks.payloads import check_storable, prune
from webhooks.registry import PayloadPolicy, handler_for, payload_policy

logger = logging.getLogger(__name__)

# Statuses a task leaves alone: only staff (a replay) send such events through again.
SETTLED = frozenset(
    {WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED, WebhookEvent.Status.FAILED}
)
LAST_ERROR_MAX_LENGTH = 2000
SWEEP_BATCH = 500


def _jsonb_safe(value: Any) -> Any:
    """The payload with NUL characters replaced: PostgreSQL's jsonb cannot store `\\u0000`.

    `raw_body` keeps the exact original (there the NUL is the escape's six characters). Runs on
    pruned payloads, whose depth the allowlist bounds.
    """
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_jsonb_safe(key): _jsonb_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonb_safe(item) for item in value]
    return value


def _enqueue_after_commit(event_ids: Iterable[uuid.UUID]) -> None:
    """Send one processing task per event once the current transaction commits.

    Robust callbacks: when sending fails (the broker is down) or an eager run ends in failure,
    the error is logged and the caller still succeeds, since the event is stored. An event whose
    task could not be sent stays `received`, and the stale-event sweep sends it later.
    """
    for event_id in event_ids:
        transaction.on_commit(_sender(str(event_id)), robust=True)


def _sender(event_id: str) -> Callable[[], None]:
    from webhooks.tasks import process_webhook_event  # the tasks module imports this one

    def send_process_webhook_event() -> None:
        # A broker outage is logged and counted there; the event waits for the stale sweep.
        enqueue_stored_work(process_webhook_event, event_id)

    return send_process_webhook_event


def webhook_receive(
    *,
    provider: str,
    event_id: str,
    event_type: str,
    payload: Any,
    raw_body: str,
) -> tuple[WebhookEvent, bool]:
    """Store a verified event once and schedule its processing; returns (event, created).

    A duplicate (same provider and event id, even delivered at the same instant) stores nothing
    and returns the existing row with `created` False. When processing ran eagerly (no broker)
    the returned row already shows its outcome. 400 for an id or type the ledger cannot hold,
    or a payload it cannot store as JSON (`webhooks.payloads.check_storable`).

    Only the fields of `payload` that the provider's allowlist names are stored, and the
    provider's `subject` of them is kept with the event (see `webhooks.registry`).
    ImproperlyConfigured when the provider declared no allowlist.
    """
    if not provider or len(provider) > PROVIDER_MAX_LENGTH:
        raise ValueError(f"Webhook provider names are 1 to {PROVIDER_MAX_LENGTH} characters.")
    if not event_id or len(event_id) > EVENT_ID_MAX_LENGTH or "\x00" in event_id:
        raise BadRequestError(
            f"The event id must be 1 to {EVENT_ID_MAX_LENGTH} characters",
            details={"field": "event_id"},
        )
    if not event_type or len(event_type) > EVENT_TYPE_MAX_LENGTH or "\x00" in event_type:
        raise BadRequestError(
            f"The event type must be 1 to {EVENT_TYPE_MAX_LENGTH} characters",
            details={"field": "event_type"},
        )
    policy = payload_policy(provider)
    kept = prune(payload, policy.fields)
    try:
        check_storable([event_id, event_type, kept])
    except ValueError as error:
        raise BadRequestError(
            f"The webhook payload cannot be stored: {error}", details={"field": "payload"}
        ) from None
    kept = _jsonb_safe(kept)
    candidate = WebhookEvent(
        provider=provider,
        event_id=event_id,
        event_type=event_type,
        subject=_subject(policy, kept, provider=provider),
        payload=kept,
        raw_body=raw_body,
    )
    with transaction.atomic():
        # INSERT … ON CONFLICT DO NOTHING: a concurrent insert of the same key makes this one
        # wait for it to commit, then do nothing; the read below then sees the winner's row.
        WebhookEvent.objects.bulk_create([candidate], ignore_conflicts=True)
        event = WebhookEvent.objects.get(provider=provider, event_id=event_id)
        created = event.pk == candidate.pk
        logger.info(
            "webhook %s: %s %s %s",
            "stored" if created else "duplicate",
            provider,
            event_type,
            event_id,
        )
        if created:
            _enqueue_after_commit([event.pk])
    if created and not transaction.get_connection().in_atomic_block:
        event.refresh_from_db()  # the task may have run eagerly on commit
    return event, created


def _subject(policy: PayloadPolicy, payload: Any, *, provider: str) -> str:
    """Whom a (kept) payload is about; empty when no one or nothing the column can hold."""
    if policy.subject is None:
        return ""
    subject = policy.subject(payload)
    if not isinstance(subject, str) or not subject:
        return ""
    if len(subject) > SUBJECT_MAX_LENGTH or "\x00" in subject:
        logger.warning("webhook %s subject not kept: it does not fit the column", provider)
        return ""
    return subject


def _describe(error: BaseException) -> str:
    kind = type(error)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    text = f"{name}: {error}" if str(error) else name
    return text[:LAST_ERROR_MAX_LENGTH]


def _claim(event_id: str) -> WebhookEvent | None:
    """Count an attempt and mark the event `processing`, in a transaction of its own.

    Committed before the handler runs, so an attempt that dies with its worker is still counted
    and the row shows `processing`, which the stale-event sweep looks for.
    """
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None:
            logger.warning("webhook event %s does not exist; nothing to process", event_id)
            return None
        if event.status in SETTLED:
            return event
        event.status = WebhookEvent.Status.PROCESSING
        event.attempts += 1
        event.next_retry_at = None
        event.save(update_fields=["status", "attempts", "next_retry_at", "updated_at"])
        return event


def webhook_process(*, event_id: str, retry_in: float | None) -> WebhookEvent | None:
    """Run the handler registered for a stored event, at most once to success.

    Settled events (processed, ignored, failed) are left alone. Without a handler for its type
    the event ends `ignored`. When the handler raises, its writes are undone, the error is
    recorded in `last_error` and re-raised for the task to retry: the event goes back to
    `received` with `next_retry_at` in `retry_in` seconds, or ends `failed` when `retry_in` is
    None (the last attempt). The raw body is emptied once the event is settled: processing,
    retries and replays all run from the stored payload. `last_error` is kept after a later
    success, as a record of why earlier attempts failed. Returns the event, or None when there
    is no such row.

    The handler runs inside the transaction that holds the row lock (not after it): a second
    task for the same event waits for the lock and then finds the event settled, so the handler
    never runs twice concurrently, and its own writes commit atomically with `processed`.
    """
    started = time.perf_counter()
    claimed = _claim(event_id)
    if claimed is None or claimed.status != WebhookEvent.Status.PROCESSING:
        return claimed
    failure: Exception | None = None
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().get(pk=event_id)
        if event.status != WebhookEvent.Status.PROCESSING:
            return event  # settled or replayed by someone else since the claim
        now = timezone.now()
        handler = handler_for(event.provider, event.event_type)
        if handler is None:
            event.status = WebhookEvent.Status.IGNORED
            event.processed_at = now
            event.raw_body = ""
            event.save(update_fields=["status", "processed_at", "raw_body", "updated_at"])
            logger.info("webhook ignored (no handler): %s %s", event.provider, event.event_type)
            _record_outcome(event, started=started)
            return event
        try:
            with transaction.atomic():  # a savepoint: a failing handler leaves no writes behind
                handler(event)
        except Exception as error:  # noqa: BLE001 - any handler failure is recorded, then retried
            failure = error
            event.last_error = _describe(error)
            if retry_in is None:
                event.status = WebhookEvent.Status.FAILED
                event.raw_body = ""
            else:
                event.status = WebhookEvent.Status.RECEIVED
                event.next_retry_at = now + timedelta(seconds=retry_in)
            event.save(
                update_fields=["status", "last_error", "next_retry_at", "raw_body", "updated_at"]
            )
        else:
            event.status = WebhookEvent.Status.PROCESSED
            event.processed_at = now
            event.raw_body = ""
            event.save(update_fields=["status", "processed_at", "raw_body", "updated_at"])
    _record_outcome(event, started=started)
    if failure is not None:
        # Raised after the commit, so the recorded error and the new status stay.
        log = logger.error if retry_in is None else logger.warning
        log(
            "webhook handler failed (attempt %d%s): %s %s %s: %s",
            event.attempts,
            ", giving up" if retry_in is None else f", retry in {retry_in:.0f}s",
            event.provider,
            event.event_type,
            event.event_id,
            event.last_error,
        )
        raise failure
    return event


_OUTCOMES = {
    WebhookEvent.Status.PROCESSED: "processed",
    WebhookEvent.Status.IGNORED: "ignored",
    WebhookEvent.Status.FAILED: "failed",
    WebhookEvent.Status.RECEIVED: "retried",  # the handler failed; a retry is scheduled
}


def _record_outcome(event: WebhookEvent, *, started: float) -> None:
    """The groundwork_webhook_* metrics for one processing attempt."""
    record_webhook_event(
        provider=event.provider,
        event_type=event.event_type,
        outcome=_OUTCOMES.get(WebhookEvent.Status(event.status), str(event.status)),
        seconds=time.perf_counter() - started,
    )


def webhook_replay(*, events: QuerySet[WebhookEvent]) -> int:
    """Send these events through processing again (staff's "process again"); returns the count.

    Whatever their status, they go back to `received` and a task is sent after commit; attempts
    and the last error are kept. Handlers are idempotent, so replaying a processed event is safe.
    """
    with transaction.atomic():
        locked = WebhookEvent.objects.select_for_update().filter(pk__in=events.values("pk"))
        event_ids = list(locked.values_list("pk", flat=True))
        WebhookEvent.objects.filter(pk__in=event_ids).update(
            status=WebhookEvent.Status.RECEIVED, next_retry_at=None, updated_at=timezone.now()
        )
        _enqueue_after_commit(event_ids)
    logger.info("webhook replay of %d event(s)", len(event_ids))
    return len(event_ids)


def webhook_requeue_stale(*, older_than: timedelta, limit: int = SWEEP_BATCH) -> int:
    """Send a task again for events whose processing was lost; returns how many.

    Stale: `received` with no retry scheduled and untouched for `older_than` (a crash between
    insert and enqueue, a broker outage), `received` whose retry is `older_than` overdue (the
    retry message was lost), or `processing` untouched for `older_than` (the worker died
    mid-run; `older_than` must exceed the task time limit). Rows locked by a running task are
    skipped. Duplicate tasks are harmless: processing is idempotent.
    """
    now = timezone.now()
    cutoff = now - older_than
    received = WebhookEvent.Status.RECEIVED
    stale = (
        Q(status=received, next_retry_at__isnull=True, updated_at__lt=cutoff)
        | Q(status=received, next_retry_at__lt=cutoff)
        | Q(status=WebhookEvent.Status.PROCESSING, updated_at__lt=cutoff)
    )
    with transaction.atomic():
        event_ids = list(
            WebhookEvent.objects.select_for_update(skip_locked=True)
            .filter(stale)
            .order_by("updated_at")
            .values_list("pk", flat=True)[:limit]
        )
        # Touched so the next sweep leaves them alone while their task waits in the queue.
        WebhookEvent.objects.filter(pk__in=event_ids).update(updated_at=now, next_retry_at=None)
        _enqueue_after_commit(event_ids)
    if event_ids:
        logger.warning("webhook sweep re-enqueued %d stale event(s)", len(event_ids))
    return len(event_ids)


PURGE_BATCH = 1000


def webhook_purge_old(
    *,
    older_than: timedelta,
    failed_older_than: timedelta | None = None,
    batch_size: int = PURGE_BATCH,
) -> int:
    """Delete settled events received long ago; returns how many.

    Processed and ignored events go once received more than `older_than` ago, failed ones once
    received more than `failed_older_than` ago (staff may process them again until then; None
    keeps them). Events still waiting or being processed are kept whatever their age, and so are
    events locked by a replay running now. A provider redelivering a purged event (long after any
    provider retries) would have it stored and processed again. Runs in batches of `batch_size`
    rows, one transaction each.
    """
    now = timezone.now()
    done = (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED)
    expired = Q(status__in=done, received_at__lt=now - older_than)
    if failed_older_than is not None:
        expired |= Q(status=WebhookEvent.Status.FAILED, received_at__lt=now - failed_older_than)
    total = delete_in_batches(
        WebhookEvent.objects.filter(expired), order_by="received_at", batch_size=batch_size
    )
    if total:
        logger.info("webhook purge deleted %d settled event(s)", total)
    return total


def webhook_events_scrub(*, provider: str, subjects: Iterable[str]) -> int:
    """Remove personal data from `provider`'s events about `subjects`; returns how many rows.

    An erasure step (`accounts.personal_data`): each event keeps only the fields its provider's
    allowlist does not mark PERSONAL (ids, types, times: what an idempotent replay needs), and
    its raw body is emptied. Idempotent; runs in the caller's transaction.

    Rows another transaction holds (an event being processed right now) are skipped rather than
    waited for: processing locks the event and then the user, erasure the user and then the
    events, and waiting would deadlock. Nothing is lost: processing empties the raw body when
    it ends, and handlers whose payloads carry personal fields scrub the events of a user they
    find erased (`accounts.identity_events`).
    """
    wanted = sorted({subject for subject in subjects if subject})
    if not wanted:
        return 0
    policy = payload_policy(provider)
    with transaction.atomic():
        events = list(
            WebhookEvent.objects.select_for_update(skip_locked=True)
            .filter(provider=provider, subject__in=wanted)
            .order_by("pk")
            .only("pk", "payload", "raw_body")
        )
        changed = []
        for event in events:
            scrubbed = _jsonb_safe(prune(event.payload, policy.fields, personal=False))
            if scrubbed != event.payload or event.raw_body:
                event.payload, event.raw_body = scrubbed, ""
                changed.append(event)
        WebhookEvent.objects.bulk_update(changed, ["payload", "raw_body"])
    if changed:
        logger.info("webhook events scrubbed: %d %s event(s)", len(changed), provider)
    return len(changed)
