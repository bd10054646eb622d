"""Handlers of Google Play's notifications (registered for provider "google" by `BillingConfig`).

Every subscription notification, whatever its type (including codes Play adds later, stored as
`subscription.UNKNOWN`), means "this purchase changed": the handler reads the purchase back from
Play and stores what it grants (`billing.googleplay.services.google_subscription_refresh`). A voided
subscription purchase (a refund or chargeback) is read back the same way; voided one-time
purchases concern nothing sold here. `test`, `one_time_product` and `pending_refund_review`
notifications have no handler: the ledger stores them and marks them `ignored`.

A Play failure (5xx, timeout, no connection) raises, so the ledger retries with back-off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from billing.googleplay import services
from billing.googleplay.intake import (
    SUBSCRIPTION_NOTIFICATION_TYPES,
    SUBSCRIPTION_PREFIX,
    UNKNOWN_SUBSCRIPTION_TYPE,
    VOIDED_PURCHASE,
)
from webhooks.models import WebhookEvent
from webhooks.registry import register

logger = logging.getLogger(__name__)

PROVIDER = services.PROVIDER
PRODUCT_TYPE_SUBSCRIPTION = 1  # VoidedPurchaseNotification.productType


def _notification_part(event: WebhookEvent, kind: str) -> dict[str, Any]:
    payload = event.payload if isinstance(event.payload, dict) else {}
    notification = payload.get("notification")
    part = notification.get(kind) if isinstance(notification, dict) else None
    if not isinstance(part, dict) or not isinstance(part.get("purchaseToken"), str):
        raise ValueError(f"Google event {event.event_id} carries no {kind}.purchaseToken")
    return part


def subscription_changed(event: WebhookEvent) -> None:
    """subscription.*: read the purchase from Play and store its entitlement."""
    part = _notification_part(event, "subscriptionNotification")
    services.google_subscription_refresh(purchase_token=part["purchaseToken"])


def purchase_voided(event: WebhookEvent) -> None:
    """voided_purchase: a voided subscription is read back like any change; others are not ours."""
    part = _notification_part(event, "voidedPurchaseNotification")
    if part.get("productType") != PRODUCT_TYPE_SUBSCRIPTION:
        logger.info("google voided purchase of a one-time product: nothing to do")
        return
    services.google_subscription_refresh(purchase_token=part["purchaseToken"])


HANDLERS: dict[str, Callable[[WebhookEvent], None]] = {
    **{
        SUBSCRIPTION_PREFIX + name: subscription_changed
        for name in SUBSCRIPTION_NOTIFICATION_TYPES.values()
    },
    UNKNOWN_SUBSCRIPTION_TYPE: subscription_changed,
    VOIDED_PURCHASE: purchase_voided,
}


def register_handlers() -> None:
    """Register every handler above with the webhook ledger."""
    for event_type, handler in HANDLERS.items():
        register(PROVIDER, event_type, handler)
