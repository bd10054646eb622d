"""Simultaneous requests against the real Stripe endpoints (PostgreSQL: real row locks)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections
from django.test import Client
from djstripe.models import Customer

from accounts.tokens import mint_development_token
from billing.models import Entitlement
from tests.billing.conftest import APP_ORIGIN, MONTHLY, deliver
from webhooks.models import WebhookEvent

REQUESTS = 8

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite runs one writer at a time (CI runs this on it)")


def at_once(call: Callable[[Client], Any]) -> list[Any]:
    """Run `call` in REQUESTS threads released together, each with its own connection."""
    start = threading.Barrier(REQUESTS)
    results: list[Any] = ["no answer"] * REQUESTS

    def run(index: int) -> None:
        try:
            start.wait(timeout=10)
            results[index] = call(Client())
        except Exception as error:  # noqa: BLE001 - reported by the caller's assertions
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_eight_simultaneous_deliveries_store_one_event_with_one_effect(stripe_fake, user):
    customer = stripe_fake.add_customer(user_id=user.pk)
    sub = stripe_fake.add_subscription(customer=customer["id"], price=MONTHLY)
    event = stripe_fake.event("customer.subscription.created", sub)

    def post(client: Client) -> tuple[int, str]:
        response = deliver(client, event)
        return response.status_code, response.json()["status"]

    results = at_once(post)

    assert sorted(results) == [(200, "duplicate")] * 7 + [(200, "processed")], results
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
    assert len(stripe_fake.calls("GET", f"/v1/subscriptions/{sub['id']}")) == 1
    entitlement = Entitlement.objects.get()
    assert (entitlement.user, entitlement.status) == (user, "active")


def test_simultaneous_first_checkouts_create_one_customer(stripe_fake, user):
    token = mint_development_token(email=user.email, subject=user.pk)
    body = {"plan": "monthly", "success_url": f"{APP_ORIGIN}/ok", "cancel_url": f"{APP_ORIGIN}/no"}

    def post(client: Client) -> int:
        response = client.post(
            "/api/v1/app/billing/checkout",
            body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )
        return response.status_code

    results = at_once(post)

    assert results == [200] * REQUESTS, results
    created = {r.headers["idempotency-key"] for r in stripe_fake.calls("POST", "/v1/customers")}
    assert len(created) == 1
    assert len(stripe_fake.objects["customers"]) == 1
    assert Customer.objects.filter(subscriber=user).count() == 1
