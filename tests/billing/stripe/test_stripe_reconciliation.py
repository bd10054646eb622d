"""The hourly reconciliation: Stripe's events of the last three days that never arrived."""

from __future__ import annotations

import time

import pytest
from django.conf import settings as django_settings
from djstripe.models import Price

from billing.models import Entitlement
from billing.tasks import reconcile_stripe_events
from tests.billing.conftest import MONTHLY, deliver
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db


def test_missed_events_are_fetched_and_processed_once(
    stripe_fake, user, client, django_capture_on_commit_callbacks
):
    customer = stripe_fake.add_customer(user_id=user.pk)
    sub = stripe_fake.add_subscription(customer=customer["id"], price=MONTHLY)
    delivered = stripe_fake.event("customer.created", customer)
    assert deliver(client, delivered).status_code == 200
    stripe_fake.event("customer.subscription.created", sub)  # never delivered
    stripe_fake.event("charge.succeeded", {"id": "ch_1", "object": "charge"})
    too_old = stripe_fake.event(
        "invoice.paid", {"id": "in_old", "object": "invoice"}, created=int(time.time()) - 4 * 86_400
    )

    with django_capture_on_commit_callbacks(execute=True):
        new = reconcile_stripe_events.delay().get()

    assert new == 2
    stored = dict(WebhookEvent.objects.values_list("event_type", "status"))
    assert stored["customer.subscription.created"] == "processed"
    assert stored["charge.succeeded"] == "ignored"
    assert not WebhookEvent.objects.filter(event_id=too_old["id"]).exists()
    assert Entitlement.objects.get(source="stripe").user == user
    (listing,) = stripe_fake.calls("GET", "/v1/events")
    assert int(listing.query["created[gte]"]) == pytest.approx(time.time() - 3 * 86_400, abs=60)
    # The configured prices are read again, so the plans on sale follow Stripe.
    assert set(Price.objects.values_list("id", flat=True)) >= {MONTHLY}

    assert reconcile_stripe_events.delay().get() == 0
    assert WebhookEvent.objects.count() == 3


def test_every_page_of_events_is_read(stripe_fake):
    for number in range(105):
        stripe_fake.event("charge.succeeded", {"id": f"ch_{number}", "object": "charge"})

    assert reconcile_stripe_events.delay().get() == 105
    assert len(stripe_fake.calls("GET", "/v1/events")) == 2


def test_without_stripe_it_does_nothing():
    assert reconcile_stripe_events.delay().get() == 0


def test_it_runs_hourly_on_beat():
    entry = django_settings.CELERY_BEAT_SCHEDULE["billing-reconcile-stripe-events"]

    assert entry == {"task": reconcile_stripe_events.name, "schedule": 3600.0}
    assert django_settings.STRIPE_RECONCILE_DAYS == 3
