"""Processing a stored event: handlers, retries with back-off, failure, the stale-event sweep."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.webhooks.provider import PROVIDER
from webhooks.models import WebhookEvent
from webhooks.services import webhook_process, webhook_receive
from webhooks.tasks import process_webhook_event, retry_countdown, retry_stale_webhook_events

pytestmark = pytest.mark.django_db(transaction=True)


def receive(event_id: str, event_type: str = "thing.happened") -> WebhookEvent:
    event, created = webhook_receive(
        provider=PROVIDER,
        event_id=event_id,
        event_type=event_type,
        payload={"id": event_id, "type": event_type},
        raw_body=f'{{"id": "{event_id}", "type": "{event_type}"}}',
    )
    assert created
    return event


def test_a_handler_that_fails_twice_is_retried_until_it_succeeds(handle):
    recorder = handle("thing.happened", failures=2)

    event = receive("evt_flaky")

    assert event.status == WebhookEvent.Status.PROCESSED
    assert event.attempts == 3 == len(recorder.calls)
    # Kept after the success: why the earlier attempts failed.
    assert event.last_error == "RuntimeError: handler failed on call 2"
    assert event.next_retry_at is None
    # The failed attempts' writes were undone; the successful one's committed with the event.
    assert recorder.traces() == ["webhook|evt_flaky|3"]


def test_a_handler_that_always_fails_leaves_the_event_failed_and_kept(handle, settings):
    settings.WEBHOOK_MAX_RETRIES = 2
    recorder = handle("thing.happened", failures=None)

    event = receive("evt_doomed")

    assert event.status == WebhookEvent.Status.FAILED
    assert event.attempts == 3 == len(recorder.calls)
    assert event.last_error == "RuntimeError: handler failed on call 3"
    assert event.processed_at is None and event.next_retry_at is None
    assert recorder.traces() == []
    assert WebhookEvent.objects.filter(pk=event.pk).exists()


def test_with_no_retries_allowed_one_failure_is_final(handle, settings):
    settings.WEBHOOK_MAX_RETRIES = 0
    handle("thing.happened", failures=1)

    event = receive("evt_once")

    assert (event.status, event.attempts) == (WebhookEvent.Status.FAILED, 1)


def test_a_failed_attempt_schedules_the_next_one(handle):
    handle("thing.happened", failures=None)
    with pytest.MonkeyPatch.context() as patch:
        # Only the first attempt: store without processing, then run one attempt by hand.
        patch.setattr("webhooks.services._enqueue_after_commit", lambda ids: None)
        event = receive("evt_retry_later")
    before = timezone.now()

    with pytest.raises(RuntimeError, match="handler failed on call 1"):
        webhook_process(event_id=str(event.pk), retry_in=90)

    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.RECEIVED
    assert event.attempts == 1
    assert event.next_retry_at is not None
    assert timedelta(seconds=89) < event.next_retry_at - before < timedelta(seconds=92)


def test_settled_events_are_not_processed_again(handle):
    recorder = handle("*")
    settled = [
        stored_without_task(f"evt_{status}", status=status, attempts=1)
        for status in ("processed", "ignored", "failed")
    ]

    results = [process_webhook_event.delay(str(event.pk)).get() for event in settled]

    assert results == ["processed", "ignored", "failed"]
    assert recorder.calls == []
    assert set(WebhookEvent.objects.values_list("attempts", flat=True)) == {1}


def test_a_task_for_a_missing_event_does_nothing():
    result = process_webhook_event.delay("00000000-0000-0000-0000-000000000000")

    assert result.get() is None


@pytest.mark.parametrize(
    ("retries", "low", "high"),
    [(0, 5, 10), (1, 10, 20), (3, 40, 80), (10, 900, 1800), (200, 900, 1800)],
)
def test_retry_countdown_grows_exponentially_with_jitter_and_a_ceiling(
    settings, retries, low, high
):
    settings.WEBHOOK_RETRY_BACKOFF_SECONDS = 10
    settings.WEBHOOK_RETRY_BACKOFF_MAX_SECONDS = 1800

    countdowns = {retry_countdown(retries=retries) for _ in range(50)}

    assert all(low <= countdown <= high for countdown in countdowns)
    assert len(countdowns) > 1  # jittered


# --- The stale-event sweep -------------------------------------------------------------------


def stored_without_task(event_id: str, **fields) -> WebhookEvent:
    """An event whose processing task never ran (lost between insert and enqueue, or killed)."""
    event = WebhookEvent.objects.create(
        provider=PROVIDER,
        event_id=event_id,
        event_type="thing.happened",
        payload={"id": event_id},
        raw_body=f'{{"id": "{event_id}"}}',
    )
    WebhookEvent.objects.filter(pk=event.pk).update(**fields)
    return event


def test_the_sweep_processes_events_whose_task_was_lost(handle, settings):
    settings.WEBHOOK_STALE_AFTER_MINUTES = 15
    recorder = handle("thing.happened")
    long_ago = timezone.now() - timedelta(minutes=16)
    stored_without_task("evt_never_sent", updated_at=long_ago)
    stored_without_task(
        "evt_worker_died", status=WebhookEvent.Status.PROCESSING, attempts=1, updated_at=long_ago
    )
    stored_without_task("evt_retry_lost", next_retry_at=long_ago, updated_at=long_ago)
    # Not stale: just stored, a retry that is still due, or settled.
    stored_without_task("evt_fresh")
    stored_without_task(
        "evt_retry_pending",
        next_retry_at=timezone.now() + timedelta(minutes=5),
        updated_at=long_ago,
    )
    stored_without_task("evt_failed", status=WebhookEvent.Status.FAILED, updated_at=long_ago)

    requeued = retry_stale_webhook_events.delay().get()

    assert requeued == 3
    assert sorted(recorder.calls) == ["evt_never_sent", "evt_retry_lost", "evt_worker_died"]
    statuses = dict(WebhookEvent.objects.values_list("event_id", "status"))
    assert statuses == {
        "evt_never_sent": "processed",
        "evt_worker_died": "processed",
        "evt_retry_lost": "processed",
        "evt_fresh": "received",
        "evt_retry_pending": "received",
        "evt_failed": "failed",
    }
    assert WebhookEvent.objects.get(event_id="evt_worker_died").attempts == 2
    assert retry_stale_webhook_events.delay().get() == 0


def test_the_sweep_runs_every_five_minutes_through_beat():
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    from config.celery import app

    DatabaseScheduler(app=app)  # what `celery beat` starts with: it syncs the code's schedule

    task = PeriodicTask.objects.get(name="webhooks-retry-stale-events")
    assert task.task == "webhooks.tasks.retry_stale_webhook_events"
    assert task.task in app.tasks
    assert (task.interval.every, task.interval.period) == (300, "seconds")
    assert task.enabled
