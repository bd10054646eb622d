"""Stripe events through the real endpoint: dj-stripe's models and the user's entitlement.

Handlers read every object back from the (fake) Stripe API, so the final state is Stripe's
current one whatever order the events arrive in, and however often.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from djstripe.models import Customer, Invoice, Price, Product, Subscription, SubscriptionItem

from accounts.models import User
from billing.models import Entitlement
from billing.stripe.client import subscription_retrieve
from billing.stripe.services import stripe_subscription_sync
from tests.billing.conftest import ENTERPRISE, MONTHLY, YEARLY, deliver
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db

STATUS_URL = "/api/v1/app/billing/status"


@pytest.fixture
def process(client, django_capture_on_commit_callbacks):
    """Deliver a signed event and run its processing (the on-commit task) right away."""

    def run(event: dict, **headers: str):
        with django_capture_on_commit_callbacks(execute=True):
            response = deliver(client, event, **headers)
        assert response.status_code == 200, response.content
        return WebhookEvent.objects.get(provider="stripe", event_id=event["id"])

    return run


@pytest.fixture
def customer(stripe_fake, user) -> dict:
    """The user's customer in Stripe, as checkout creates it (metadata user_id)."""
    return stripe_fake.add_customer(user_id=user.pk, email=user.email)


def entitlement() -> Entitlement:
    return Entitlement.objects.get(source="stripe")


def test_a_new_subscription_syncs_dj_stripe_and_grants_pro(
    stripe_fake, customer, user, process, api
):
    sub = stripe_fake.add_subscription(customer=customer["id"], price=MONTHLY)

    event = process(stripe_fake.event("customer.subscription.created", sub))

    assert event.status == WebhookEvent.Status.PROCESSED
    stored = Subscription.objects.get(id=sub["id"])
    assert stored.customer.id == customer["id"]
    assert Customer.objects.get(id=customer["id"]).subscriber == user
    assert SubscriptionItem.objects.get(subscription=stored).price.id == MONTHLY
    assert Price.objects.get(id=MONTHLY).product.id == "prod_pro"
    assert Product.objects.get(id="prod_pro").name == "Pro"
    granted = entitlement()
    period_end = sub["items"]["data"][0]["current_period_end"]
    assert (granted.user, granted.external_id, granted.product_id) == (user, sub["id"], MONTHLY)
    assert (granted.plan, granted.status, granted.cancel_at_period_end) == ("pro", "active", False)
    assert granted.current_period_end == datetime.fromtimestamp(period_end, tz=UTC)
    user.refresh_from_db()
    assert (user.subscription_plan, user.subscription_status) == ("pro", "active")
    body = api.as_user(user).get(STATUS_URL).json()
    assert (body["plan"], body["source"], body["has_active_subscription"]) == (
        "pro",
        "stripe",
        True,
    )


def test_updated_before_created_ends_in_stripes_current_state(stripe_fake, customer, process):
    sub = stripe_fake.add_subscription(customer=customer["id"], price=MONTHLY, status="incomplete")
    created = stripe_fake.event("customer.subscription.created", sub)
    stripe_fake.update("subscriptions", sub["id"], status="active")
    activated = stripe_fake.event("customer.subscription.updated", sub)
    stripe_fake.update("subscriptions", sub["id"], cancel_at_period_end=True)
    cancelling = stripe_fake.event("customer.subscription.updated", sub)

    # Delivered newest first: the stale payloads of the older events must not win.
    for event in (cancelling, activated, created):
        assert process(event).status == WebhookEvent.Status.PROCESSED

    final = entitlement()
    assert (final.plan, final.status, final.cancel_at_period_end) == ("pro", "active", True)


def test_the_payloads_copy_is_not_trusted(stripe_fake, customer, process):
    sub = stripe_fake.add_subscription(customer=customer["id"], price=MONTHLY)
    forged = stripe_fake.event("customer.subscription.updated", sub)
    forged["data"]["object"]["status"] = "canceled"
    forged["data"]["object"]["items"]["data"][0]["price"]["id"] = ENTERPRISE

    process(forged)

    assert (entitlement().plan, entitlement().status) == ("pro", "active")


def test_a_redelivered_event_is_processed_once(stripe_fake, customer, client, process):
    sub = stripe_fake.add_subscription(customer=customer["id"], price=MONTHLY)
    event = stripe_fake.event("customer.subscription.created", sub)

    process(event)
    again = deliver(client, event)

    assert again.json() == {"status": "duplicate"}
    assert WebhookEvent.objects.filter(provider="stripe").count() == 1
    assert len(stripe_fake.calls("GET", f"/v1/subscriptions/{sub['id']}")) == 1
    assert Entitlement.objects.count() == 1


def test_a_handler_failing_twice_is_retried_and_the_event_is_not_lost(
    stripe_fake, customer, process
):
    sub = stripe_fake.add_subscription(customer=customer["id"], price=MONTHLY)
    stripe_fake.fail(500, times=2)

    event = process(stripe_fake.event("customer.subscription.created", sub))

    assert (event.status, event.attempts) == (WebhookEvent.Status.PROCESSED, 3)
    assert "Stripe request failed" in event.last_error
    assert entitlement().status == "active"


def test_a_deleted_subscription_ends_the_plan(stripe_fake, customer, user, process, api):
    sub = stripe_fake.add_subscription(customer=customer["id"], price=MONTHLY)
    process(stripe_fake.event("customer.subscription.created", sub))
    stripe_fake.update("subscriptions", sub["id"], status="canceled", ended_at=int(time.time()))

    process(stripe_fake.event("customer.subscription.deleted", sub))

    assert entitlement().status == "canceled"
    user.refresh_from_db()
    assert (user.subscription_plan, user.subscription_status) == ("free", "none")
    assert api.as_user(user).get(STATUS_URL).json()["plan"] == "free"


def test_a_product_marked_enterprise_grants_enterprise(stripe_fake, customer, process):
    sub = stripe_fake.add_subscription(customer=customer["id"], price=ENTERPRISE)

    process(stripe_fake.event("customer.subscription.created", sub))

    assert (entitlement().plan, entitlement().product_id) == ("enterprise", ENTERPRISE)


def test_the_yearly_price_grants_pro(stripe_fake, customer, process):
    sub = stripe_fake.add_subscription(customer=customer["id"], price=YEARLY)

    process(stripe_fake.event("customer.subscription.created", sub))

    assert entitlement().plan == "pro"


def test_a_subscription_to_an_unknown_price_grants_nothing(stripe_fake, customer, process):
    stripe_fake.add_product("prod_other", name="Stickers")
    stripe_fake.add_price("price_stickers", product="prod_other", unit_amount=300)
    sub = stripe_fake.add_subscription(customer=customer["id"], price="price_stickers")

    event = process(stripe_fake.event("customer.subscription.created", sub))

    assert event.status == WebhookEvent.Status.PROCESSED
    assert Subscription.objects.filter(id=sub["id"]).exists()
    assert not Entitlement.objects.exists()


def test_a_customer_without_a_user_grants_nothing(stripe_fake, process):
    stranger = stripe_fake.add_customer()
    sub = stripe_fake.add_subscription(customer=stranger["id"], price=MONTHLY)

    event = process(stripe_fake.event("customer.subscription.created", sub))

    assert event.status == WebhookEvent.Status.PROCESSED
    assert Customer.objects.get(id=stranger["id"]).subscriber is None
    assert not Entitlement.objects.exists()


@pytest.mark.parametrize(
    ("stripe_status", "status", "plan_after"),
    [
        ("trialing", "trialing", "pro"),
        ("active", "active", "pro"),
        ("past_due", "past_due", "pro"),
        ("unpaid", "expired", "free"),
        ("incomplete_expired", "expired", "free"),
        ("incomplete", "expired", "free"),
        ("paused", "expired", "free"),
        ("canceled", "canceled", "free"),
    ],
)
def test_stripe_statuses_map_to_entitlement_statuses(
    stripe_fake, customer, user, process, stripe_status, status, plan_after
):
    sub = stripe_fake.add_subscription(customer=customer["id"], price=MONTHLY, status=stripe_status)

    process(stripe_fake.event("customer.subscription.updated", sub))

    assert entitlement().status == status
    user.refresh_from_db()
    assert user.subscription_plan == plan_after


def test_checkout_completion_ties_a_customer_without_metadata_to_the_user(
    stripe_fake, user, process
):
    bare = stripe_fake.add_customer()
    sub = stripe_fake.add_subscription(customer=bare["id"], price=MONTHLY)
    session = {
        "id": "cs_test_done",
        "object": "checkout.session",
        "customer": bare["id"],
        "subscription": sub["id"],
        "client_reference_id": user.pk,
        "mode": "subscription",
    }

    process(stripe_fake.event("checkout.session.completed", session))

    assert Customer.objects.get(id=bare["id"]).subscriber == user
    assert (entitlement().user, entitlement().status) == (user, "active")


def test_invoice_events_store_the_invoice(stripe_fake, customer, process):
    invoice = stripe_fake.add_invoice(customer=customer["id"], amount=2500)

    process(stripe_fake.event("invoice.paid", invoice))

    stored = Invoice.objects.get(id=invoice["id"])
    assert stored.customer.id == customer["id"]
    assert stored.stripe_data["amount_paid"] == 2500


def test_a_deleted_draft_invoice_is_removed(stripe_fake, customer, process):
    invoice = stripe_fake.add_invoice(customer=customer["id"], status="draft")
    process(stripe_fake.event("invoice.created", invoice))
    del stripe_fake.objects["invoices"][invoice["id"]]

    event = process(stripe_fake.event("invoice.deleted", invoice))

    assert event.status == WebhookEvent.Status.PROCESSED
    assert not Invoice.objects.filter(id=invoice["id"]).exists()


def test_price_and_product_events_store_them(stripe_fake, process):
    stripe_fake.update("prices", MONTHLY, unit_amount=2900)

    process(stripe_fake.event("price.updated", stripe_fake.get("prices", MONTHLY)))
    process(stripe_fake.event("product.updated", stripe_fake.get("products", "prod_enterprise")))

    assert Price.objects.get(id=MONTHLY).unit_amount == 2900
    assert Product.objects.get(id="prod_enterprise").metadata == {"plan": "enterprise"}


def test_other_event_types_are_stored_and_ignored(stripe_fake, process):
    event = stripe_fake.event("charge.refunded", {"id": "ch_1", "object": "charge"})

    assert process(event).status == WebhookEvent.Status.IGNORED
    assert stripe_fake.requests == []


def test_an_older_read_never_overwrites_a_newer_one(stripe_fake, customer):
    sub = stripe_fake.add_subscription(customer=customer["id"], price=MONTHLY)
    stale = subscription_retrieve(sub["id"])
    stale_at = timezone.now()
    stripe_fake.update("subscriptions", sub["id"], cancel_at_period_end=True)
    fresh = subscription_retrieve(sub["id"])

    stripe_subscription_sync(data=fresh, read_at=stale_at + timedelta(seconds=1))
    stripe_subscription_sync(data=stale, read_at=stale_at)

    assert entitlement().cancel_at_period_end is True


def test_a_purchase_already_held_by_another_user_is_a_conflict_and_retried(
    stripe_fake, customer, other_user, process
):
    sub = stripe_fake.add_subscription(customer=customer["id"], price=MONTHLY)
    Entitlement.objects.create(
        user=other_user, source="stripe", external_id=sub["id"], plan="pro", status="active"
    )

    event = process(stripe_fake.event("customer.subscription.created", sub))

    assert event.status == WebhookEvent.Status.FAILED
    assert "ConflictError" in event.last_error
    assert User.objects.get(pk=other_user.pk).entitlements.get().external_id == sub["id"]
