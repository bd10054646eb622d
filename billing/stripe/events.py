"""Handlers of Stripe's webhook events (registered for provider "stripe" by `BillingConfig`).

Each handler takes the id of the object the event is about and reads that object back from
Stripe (`billing.stripe.services`), so the payload's copy, possibly stale or out of order, is
never stored. Event types without a handler end `ignored` in the ledger.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings

from billing.stripe import client, services
from webhooks.models import WebhookEvent
from webhooks.registry import register
from webhooks.services import webhook_receive

logger = logging.getLogger(__name__)

PROVIDER = services.PROVIDER


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
    """Register every handler above with the webhook ledger."""
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
