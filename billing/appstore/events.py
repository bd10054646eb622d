"""Handlers of App Store Server Notifications (registered for provider "apple" by `BillingConfig`).

The ledger stores each notification under its `notificationUUID`, with the notification type
as event type (`SUBSCRIBED`, `DID_RENEW`, …; the subtype stays in the payload, so one type has
one handler and the admin filters by type). The payload was verified at intake and carries the
decoded transaction and renewal info, so nothing is verified again here.

Types that carry subscription state (`services.NOTIFICATION_STATUS`) are applied to the
purchase's entitlement; the others (TEST, CONSUMPTION_REQUEST, …, and types Apple adds later)
have no handler and end `ignored`.

The ledger keeps only the fields the handler reads, and a few that identify the purchase for
staff (`STORED_FIELDS`); an event's subject is the purchase's original transaction id, by which
an erased user's events are scrubbed.
"""

from __future__ import annotations

from typing import Any

from billing.appstore import services
from billing.models import Entitlement
from webhooks.models import WebhookEvent
from webhooks.payloads import KEEP
from webhooks.registry import register, register_payload
from webhooks.services import webhook_events_scrub

PROVIDER = "apple"

_TRANSACTION_FIELDS = (
    "originalTransactionId",
    "transactionId",
    "webOrderLineItemId",
    "bundleId",
    "productId",
    "type",
    "purchaseDate",
    "expiresDate",
    "revocationDate",
    "revocationReason",
    "signedDate",
    "environment",
    "inAppOwnershipType",
    "transactionReason",
    "appAccountToken",
)
_RENEWAL_FIELDS = (
    "originalTransactionId",
    "productId",
    "autoRenewProductId",
    "autoRenewStatus",
    "isInBillingRetryPeriod",
    "gracePeriodExpiresDate",
    "expirationIntent",
    "renewalDate",
    "signedDate",
    "environment",
    "appAccountToken",
)
# What the ledger keeps of a notification (as `client.verify_notification` decodes it).
STORED_FIELDS = {
    **dict.fromkeys(
        ("notificationType", "subtype", "notificationUUID", "version", "signedDate"), KEEP
    ),
    "data": {
        **dict.fromkeys(("bundleId", "bundleVersion", "environment", "appAppleId", "status"), KEEP),
        "transactionInfo": dict.fromkeys(_TRANSACTION_FIELDS, KEEP),
        "renewalInfo": dict.fromkeys(_RENEWAL_FIELDS, KEEP),
    },
}


def event_subject(payload: Any) -> str | None:
    """The purchase a notification is about: its original transaction id."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        return None
    for part in ("transactionInfo", "renewalInfo"):
        info = data.get(part)
        otid = info.get("originalTransactionId") if isinstance(info, dict) else None
        if isinstance(otid, str) and otid:
            return otid
    return None


def events_scrub_for_user(*, user_id: str) -> int:
    """Erasure: scrub the ledger's notifications about the user's App Store purchases."""
    purchases = Entitlement.objects.filter(
        user_id=user_id, source=Entitlement.Source.APPLE
    ).values_list("external_id", flat=True)
    return webhook_events_scrub(provider=PROVIDER, subjects=list(purchases))


def notification_received(event: WebhookEvent) -> None:
    """A notification with subscription state: update the purchase's entitlement.

    Permanent conditions (no user for the purchase, a product type that is not followed) finish
    without effect; only transient failures (the database) raise and are retried.
    """
    payload = event.payload if isinstance(event.payload, dict) else {}
    services.apple_notification_apply(notification=payload)


def register_handlers() -> None:
    """Register the handler for every notification type that carries subscription state, and
    what of a notification is kept."""
    register_payload(PROVIDER, fields=STORED_FIELDS, subject=event_subject)
    for notification_type in services.NOTIFICATION_STATUS:
        register(PROVIDER, notification_type, notification_received)
