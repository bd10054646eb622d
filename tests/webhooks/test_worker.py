"""A real Celery worker, fed through Redis, processes and retries events on the shared database."""

from __future__ import annotations

import os
import uuid

import pytest
from django.db import connection
from django_redis import get_redis_connection

from tests.processes import celery_worker, sending_to_broker, wait_for, worker_env
from tests.webhooks.provider import PROVIDER
from tests.webhooks.worker_handlers import FLAKY, RECORDED, trace_key
from webhooks.models import WebhookEvent
from webhooks.tasks import process_webhook_event


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
    env = worker_env(live_database_url, WEBHOOK_RETRY_BACKOFF_SECONDS="0")
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

    handlers = "tests.webhooks.worker_handlers"
    with celery_worker(env, name=queue, queue=queue, include=handlers, log_path=log_path) as worker:
        worker_pid = worker.pid
        with sending_to_broker():
            for event in events.values():
                process_webhook_event.apply_async(args=[str(event.pk)], queue=queue)
        rows = WebhookEvent.objects.filter(pk__in=[e.pk for e in events.values()])
        wait_for(
            lambda: set(rows.values_list("status", flat=True)) == {WebhookEvent.Status.PROCESSED},
            what="both events to be processed",
            log=log_path,
            timeout=60,
        )

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
