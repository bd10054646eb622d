"""Simultaneous identical deliveries: one row, one handler run, every request answered 200."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from django.test import Client

from tests.webhooks.provider import delivery, post_delivery
from webhooks.models import WebhookEvent

DELIVERIES = 8


@pytest.mark.urls("tests.webhooks.urls")
@pytest.mark.django_db(transaction=True)
def test_eight_simultaneous_deliveries_store_one_event_and_handle_it_once(handle):
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: SQLite runs one writer at a time, so these requests could not "
            "race (CI runs this on PostgreSQL)"
        )
    recorder = handle("thing.happened")
    body = delivery("evt_storm", amount=42)
    start = threading.Barrier(DELIVERIES)
    results = ["no answer"] * DELIVERIES  # replaced by (status, ack) or the error

    def deliver(index):
        # Each thread has its own database connection, as each server worker would.
        client = Client()
        try:
            start.wait(timeout=10)
            response = post_delivery(client, body)
            results[index] = (response.status_code, response.json()["status"])
        except Exception as error:  # noqa: BLE001 - reported by the assertions below
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(DELIVERIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    answers = [result for result in results if isinstance(result, tuple)]
    assert len(answers) == DELIVERIES, results
    assert [status for status, _ in answers] == [200] * DELIVERIES
    assert sorted(ack for _, ack in answers) == ["duplicate"] * 7 + ["processed"]
    assert WebhookEvent.objects.count() == 1
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
    assert recorder.calls == ["evt_storm"]
    assert recorder.traces() == ["webhook|evt_storm|1"]
