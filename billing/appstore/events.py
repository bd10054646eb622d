"""Handlers of App Store Server Notifications (registered for provider "apple" by `BillingConfig`).

The ledger stores each notification under its `notificationUUID`, with the notification type
as event type (`SUBSCRIBED`, `DID_RENEW`, …; the subtype stays in the payload, so one type has
one handler and the admin filters by type). The payload was verified at intake and carries the
decoded transaction and renewal info, so nothing is verified again here.

Types that carry subscription state (`services.NOTIFICATION_STATUS`) are applied to the
purchase's entitlement; the others (TEST, CONSUMPTION_REQUEST, …, and types Apple adds later)
have no handler and end `ignored`.
"""

from __future__ import annotations

from billing.appstore import services
from webhooks.models import WebhookEvent
from webhooks.registry import register

PROVIDER = "apple"


def notification_received(event: WebhookEvent) -> None:
    """A notification with subscription state: update the purchase's entitlement.

    Permanent conditions (no user for the purchase, a product type that is not followed) finish
    without effect; only transient failures (the database) raise and are retried.
    """
    payload = event.payload if isinstance(event.payload, dict) else {}
    services.apple_notification_apply(notification=payload)


def register_handlers() -> None:
    """Register the handler for every notification type that carries subscription state."""
    for notification_type in services.NOTIFICATION_STATUS:
        register(PROVIDER, notification_type, notification_received)
