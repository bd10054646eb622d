"""Handlers of Google Play's notifications (registered for provider "google" by `BillingConfig`).

Every subscription notification, whatever its type (including codes Play adds later, stored as
`subscription.UNKNOWN`), means "this purchase changed": the handler reads the purchase back from
Play and stores what it grants (`billing.googleplay.services.google_subscription_refresh`). A voided
subscription purchase (a refund or chargeback) is read back the same way; voided one-time
purchases concern nothing sold here. `test`, `one_time_product` and `pending_refund_review`
notifications have no handler: the ledger stores them and marks them `ignored`.

A Play failure (5xx, timeout, no connection) raises, so the ledger retries with back-off.

The ledger keeps the push's envelope and the notification's fields (`STORED_FIELDS`), not the
Pub/Sub attributes; an event's subject is the purchase token, by which an erased user's events
are scrubbed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from billing.googleplay import services
from billing.googleplay.intake import (
    SUBSCRIPTION_NOTIFICATION_TYPES,
    SUBSCRIPTION_PREFIX,
    TOKEN_BEARING,
    UNKNOWN_SUBSCRIPTION_TYPE,
    VOIDED_PURCHASE,
)
from billing.models import Entitlement
from webhooks.models import WebhookEvent
from webhooks.payloads import KEEP
from webhooks.registry import register, register_payload
from webhooks.services import webhook_events_scrub

logger = logging.getLogger(__name__)

PROVIDER = services.PROVIDER
PRODUCT_TYPE_SUBSCRIPTION = 1  # VoidedPurchaseNotification.productType

# What the ledger keeps of a push (as `intake.decode_push` returns it).
STORED_FIELDS = {
    **dict.fromkeys(("message_id", "publish_time", "subscription"), KEEP),
    "notification": {
        **dict.fromkeys(("version", "packageName", "eventTimeMillis"), KEEP),
        "subscriptionNotification": dict.fromkeys(
            ("version", "notificationType", "purchaseToken", "subscriptionId"), KEEP
        ),
        "voidedPurchaseNotification": dict.fromkeys(
            ("purchaseToken", "orderId", "productType", "refundType"), KEEP
        ),
        "oneTimeProductNotification": dict.fromkeys(
            ("version", "notificationType", "purchaseToken", "sku"), KEEP
        ),
        "pendingRefundReviewNotification": dict.fromkeys(("purchaseToken",), KEEP),
        "testNotification": {"version": KEEP},
    },
}


def event_subject(payload: Any) -> str | None:
    """The purchase a notification is about: its purchase token."""
    notification = payload.get("notification") if isinstance(payload, dict) else None
    if not isinstance(notification, dict):
        return None
    for kind in TOKEN_BEARING:
        part = notification.get(kind)
        token = part.get("purchaseToken") if isinstance(part, dict) else None
        if isinstance(token, str) and token:
            return token
    return None


def events_scrub_for_user(*, user_id: str) -> int:
    """Erasure: scrub the ledger's notifications about the user's Google Play purchases."""
    purchases = Entitlement.objects.filter(
        user_id=user_id, source=Entitlement.Source.GOOGLE
    ).values_list("external_id", flat=True)
    return webhook_events_scrub(provider=PROVIDER, subjects=list(purchases))


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
    """Register every handler above, and what of a push is kept, with the webhook ledger."""
    register_payload(PROVIDER, fields=STORED_FIELDS, subject=event_subject)
    for event_type, handler in HANDLERS.items():
        register(PROVIDER, event_type, handler)
