"""A webhook's effect is applied once when its processing is cut mid-transaction: PostgreSQL
restarted under it, or the worker process running it SIGKILLed (the worker-level version of
tests/jobs/test_worker.py, here through the real intake and ledger under production settings).

The handler (tests/faults/worker_handlers.py) writes its effect inside the processing
transaction, then waits for the test; the test breaks things, lets it go on, and counts the
effect rows once the event is processed.
"""

from __future__ import annotations

import os
import signal
import uuid

import pytest
import redis as redis_client

from tests.faults.conftest import call, ledger, stopped, stripe_delivery
from tests.faults.services import PostgresCluster, RedisServer
from tests.faults.worker_handlers import EFFECT_PROVIDER, SLOW, signal_key
from tests.processes import Process, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.live]

STRIPE_WEBHOOK = "/api/v1/public/webhooks/stripe"


def _effects(cluster: PostgresCluster, event_id: str) -> int:
    rows = cluster.execute(
        "SELECT count(*) FROM webhook_events WHERE provider = %s AND event_id = %s",
        (EFFECT_PROVIDER, event_id),
    )
    return int(rows[0][0])


@pytest.mark.parametrize("fault", ["postgres restarted", "worker process killed"])
def test_processing_cut_mid_transaction_applies_the_effect_once(
    fault: str,
    server: Process,
    worker: Process,
    cluster: PostgresCluster,
    redis: RedisServer,
) -> None:
    notes = redis_client.Redis(port=redis.port, db=0)
    event_id = f"evt_faults_{uuid.uuid4().hex[:12]}"
    body, headers = stripe_delivery(event_id, SLOW)
    accepted = call(server.url + STRIPE_WEBHOOK, method="POST", raw=body, headers=headers)
    assert accepted.status == 200 and accepted.json() == {"status": "queued"}, accepted.body
    wait_for(
        lambda: notes.get(signal_key(event_id, "started")),
        what="the handler to be mid-transaction",
        timeout=30,
    )
    assert _effects(cluster, event_id) == 0  # written, not committed

    if fault == "postgres restarted":
        with stopped(cluster):
            pass
    else:
        [child] = worker.children()
        os.kill(child, signal.SIGKILL)
    notes.set(signal_key(event_id, "go"), 1, ex=120)

    wait_for(
        lambda: ledger(cluster, [event_id]).get(event_id, ("", 0))[0] == "processed",
        what="the event to be processed after the fault",
        timeout=30,
    )
    _, attempts = ledger(cluster, [event_id])[event_id]
    assert attempts == 2  # the cut attempt, then the one that succeeded
    assert _effects(cluster, event_id) == 1
    assert worker.running()
