"""Redis goes away under a production gunicorn and a Celery worker, and comes back.

While it is down: reads are served, throttling fails open and says so once a minute (not per
request), webhooks are accepted and stored, and each task that could not be sent is reported
(logged in one line and counted). Once it is back, the stale-event sweep sends the stored events
to the worker: every delivery accepted during the outage is processed, none is lost.
"""

from __future__ import annotations

import re
import uuid

import pytest

from tests.faults.conftest import (
    METRICS_TOKEN,
    call,
    ledger,
    log_records,
    log_since,
    mint_token,
    stopped,
    stripe_delivery,
)
from tests.faults.services import PostgresCluster, RedisServer
from tests.faults.worker_handlers import RECORDED
from tests.live import run_manage
from tests.processes import HEALTH, Process, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.live]

PROJECTS = "/api/v1/app/projects"
STRIPE_WEBHOOK = "/api/v1/public/webhooks/stripe"
DELIVERIES = 5
SWEEP = (
    "from datetime import timedelta\n"
    "from webhooks.services import webhook_requeue_stale\n"
    "print('swept', webhook_requeue_stale(older_than=timedelta(0)))\n"
)


def _enqueue_failures(server: Process) -> float:
    """groundwork_task_enqueue_failures_total of the webhook task, summed over the workers."""
    metrics = call(
        server.url + "/api/v1/public/metrics",
        headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
    )
    assert metrics.status == 200, metrics.body
    found = re.search(
        r'^groundwork_task_enqueue_failures_total\{task="webhooks\.tasks\.process_webhook_event"\}'
        r" ([0-9.e+]+)$",
        metrics.body.decode(),
        re.MULTILINE,
    )
    return float(found.group(1)) if found else 0.0


def test_redis_down_serves_reads_fails_open_and_loses_no_webhook(
    server: Process,
    worker: Process,
    cluster: PostgresCluster,
    redis: RedisServer,
    production_env: dict[str, str],
) -> None:
    token = mint_token()
    assert call(server.url + PROJECTS, token=token).status == 200
    failures_before = _enqueue_failures(server)
    offset = server.log_path.stat().st_size
    run = uuid.uuid4().hex[:12]
    event_ids = [f"evt_faults_{run}_{number}" for number in range(DELIVERIES)]

    with stopped(redis):
        reads = [call(server.url + PROJECTS, token=token, timeout=10) for _ in range(12)]
        assert [answer.status for answer in reads] == [200] * len(reads), reads[0].body
        assert max(answer.seconds for answer in reads) < 3
        assert call(server.url + HEALTH + "/ready").json()["components"]["redis"]["status"] == (
            "unhealthy"
        )
        for event_id in event_ids:
            body, headers = stripe_delivery(event_id, RECORDED)
            accepted = call(
                server.url + STRIPE_WEBHOOK, method="POST", raw=body, headers=headers, timeout=10
            )
            assert accepted.status == 200, accepted.body
            assert accepted.json() == {"status": "queued"}
            assert accepted.seconds < 5
        stored = ledger(cluster, event_ids)
        assert {status for status, _ in stored.values()} == {"received"}
        assert len(stored) == DELIVERIES
        assert _enqueue_failures(server) - failures_before == DELIVERIES

    records = log_records(log_since(server.log_path, offset))
    # Fail open: said once per worker process within the minute, not once per request.
    throttling = [text for _, name, text in records if name == "config.throttling"]
    assert 1 <= len(throttling) <= len(server.children()), throttling
    enqueue = [text for _, name, text in records if name == "config.celery"]
    assert len(enqueue) == DELIVERIES, enqueue
    assert all("not sent, the broker is unavailable" in text for text in enqueue)
    # In one line each, and no request failed.
    assert not any("Traceback" in text for text in throttling + enqueue)
    assert not [text for level, name, text in records if name == "django.request"]

    # Redis is back: the sweep (a periodic task) sends the stored events to the worker.
    swept = run_manage(production_env, "shell", "-c", SWEEP, environment=None)
    assert swept.returncode == 0, swept.stderr
    assert f"swept {DELIVERIES}" in swept.stdout, swept.stdout + swept.stderr
    wait_for(
        lambda: {status for status, _ in ledger(cluster, event_ids).values()} == {"processed"},
        what="every stored event to be processed",
        timeout=30,
    )
    assert len(ledger(cluster, event_ids)) == DELIVERIES
    assert call(server.url + PROJECTS, token=token).status == 200
