"""Handlers of Stripe's webhook events (registered for provider "stripe" by `BillingConfig`).

Each handler takes the id of the object the event is about and reads that object back from
Stripe (`billing.stripe.services`), so the payload's copy, possibly stale or out of order, is
never stored. Event types without a handler end `ignored` in the ledger.

So the ledger keeps only the envelope and the ids the handlers read (`STORED_FIELDS`): no
names, emails, addresses or card details of customers. An event's subject is the customer it
concerns, by which an erased user's events are scrubbed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from djstripe.models import Customer

from billing.stripe import client, services
from webhooks.models import WebhookEvent
from webhooks.payloads import KEEP
from webhooks.registry import register, register_payload
from webhooks.services import webhook_events_scrub, webhook_receive

logger = logging.getLogger(__name__)

PROVIDER = services.PROVIDER


# What the ledger keeps of an event: the envelope and the ids the handlers below read. A
# `customer` or `subscription` is an id or, expanded, an object of which the id is kept.
STORED_FIELDS = {
    **dict.fromkeys(("id", "object", "type", "created", "api_version", "livemode"), KEEP),
    "data": {
        "object": {
            **dict.fromkeys(("id", "object", "client_reference_id"), KEEP),
            "customer": {"id": KEEP},
            "subscription": {"id": KEEP},
        }
    },
}


def event_subject(payload: Any) -> str | None:
    """The customer an event concerns: the customer itself, or the object's `customer`."""
    data = payload.get("data") if isinstance(payload, dict) else None
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        return None
    if obj.get("object") == "customer":
        return _id(obj.get("id"))
    return _id(obj.get("customer"))


def events_scrub_for_user(*, user_id: str) -> int:
    """Erasure: scrub the ledger's Stripe events about the user's customers."""
    customers = Customer.objects.filter(subscriber_id=user_id).values_list("id", flat=True)
    return webhook_events_scrub(provider=PROVIDER, subjects=list(customers))


def _object(event: WebhookEvent) -> dict[str, Any]:
    data = event.payload.get("data") if isinstance(event.payload, dict) else None
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        raise ValueError(f"Stripe event {event.event_id} carries no object id")
    return obj


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def subscription_changed(event: WebhookEvent) -> None:
    """customer.subscription.*: store the subscription and the user's entitlement."""
    services.stripe_subscription_refresh(subscription_id=_object(event)["id"])


def checkout_completed(event: WebhookEvent) -> None:
    """checkout.session.completed: tie the customer to the user, store the subscription."""
    session = _object(event)
    services.stripe_checkout_completed(
        customer_id=_id(session.get("customer")),
        subscription_id=_id(session.get("subscription")),
        user_id=_id(session.get("client_reference_id")),
    )


def customer_changed(event: WebhookEvent) -> None:
    """customer.*: store the customer."""
    services.stripe_customer_refresh(customer_id=_object(event)["id"])


def invoice_changed(event: WebhookEvent) -> None:
    """invoice.*: store the invoice (shown by GET /billing/invoices)."""
    services.stripe_invoice_refresh(invoice_id=_object(event)["id"])


def price_changed(event: WebhookEvent) -> None:
    """price.*: store the price (and its product); /billing/plans shows the configured ones."""
    services.stripe_price_refresh(price_id=_object(event)["id"])


def product_changed(event: WebhookEvent) -> None:
    """product.*: store the product (its metadata `plan` maps prices to plans)."""
    services.stripe_product_refresh(product_id=_object(event)["id"])


HANDLERS: dict[str, Callable[[WebhookEvent], None]] = {
    "checkout.session.completed": checkout_completed,
    **{
        f"customer.subscription.{action}": subscription_changed
        for action in (
            "created",
            "updated",
            "deleted",
            "paused",
            "resumed",
            "pending_update_applied",
            "pending_update_expired",
        )
    },
    **{f"customer.{action}": customer_changed for action in ("created", "updated", "deleted")},
    **{
        f"invoice.{action}": invoice_changed
        for action in (
            "created",
            "updated",
            "finalized",
            "paid",
            "payment_failed",
            "payment_succeeded",
            "voided",
            "marked_uncollectible",
            "deleted",
        )
    },
    **{f"price.{action}": price_changed for action in ("created", "updated", "deleted")},
    **{f"product.{action}": product_changed for action in ("created", "updated", "deleted")},
}


def register_handlers() -> None:
    """Register every handler above, and what of a payload is kept, with the webhook ledger."""
    register_payload(PROVIDER, fields=STORED_FIELDS, subject=event_subject)
    for event_type, handler in HANDLERS.items():
        register(PROVIDER, event_type, handler)


def stripe_events_reconcile(*, days: int) -> int:
    """Store (and so process) the events of the last `days` days that never arrived.

    Stripe lists its events; each goes through the webhook ledger like a delivery, which keeps
    the ones it already has unchanged. The configured prices are read again too, so the plans
    on sale follow Stripe. Returns how many events were new.
    """
    client.require_configured()
    since = int(time.time()) - days * 86_400
    new = 0
    for event in client.events_created_since(since):
        payload = event.to_dict(for_json=True)
        _, created = webhook_receive(
            provider=PROVIDER,
            event_id=str(payload["id"]),
            event_type=str(payload["type"]),
            payload=payload,
            raw_body=str(event),
        )
        new += created
    for price_id in (settings.STRIPE_PRICE_ID_MONTHLY, settings.STRIPE_PRICE_ID_YEARLY):
        if price_id:
            services.stripe_price_refresh(price_id=price_id)
    if new:
        logger.warning("stripe reconciliation stored %d missed event(s)", new)
    return new
