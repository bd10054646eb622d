"""Handlers of the email provider's tracking events (stored by `notifications.intake` in the
webhook ledger): mark the outbox row, and suppress addresses that must get no more email.

Each event's payload is anymail's normalised event (`notifications.intake.TRACKING_FIELDS`). The
row is found by the provider's message id (`EmailMessage.provider_message_id`); an event about no
row (an email another system sent, or a row deleted since) still suppresses its recipient.

- `delivered`, `deferred`, `rejected` (also anymail's `failed`: the provider could not send it):
  the row's delivery status.
- `bounced`: `bounced` when the provider calls it permanent, which suppresses the address;
  `soft_bounced` otherwise (the address stays usable).
- `complained`: the recipient marked it as spam; the address is suppressed.
- `rejected` because the address bounced before (SendGrid drops mail to its own bounce list):
  the address is suppressed too.

Other types (queued, sent, opened, clicked, unsubscribed, unknown) have no handler: the ledger
stores them and marks them ignored. Handlers are idempotent: a replay changes nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from notifications.models import EmailMessage, EmailSuppression
from notifications.services import TRACKING_PROVIDERS, email_delivery_record, email_suppress
from webhooks.models import WebhookEvent
from webhooks.registry import register

# anymail's normalised event types with a handler.
HANDLED_TYPES = ("delivered", "deferred", "bounced", "complained", "rejected", "failed")


def _string(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key)
    return value if isinstance(value, str) else ""


def _occurred_at(payload: Mapping[str, Any], event: WebhookEvent) -> datetime:
    """When the provider says it happened; when it does not say, when the event arrived."""
    parsed = parse_datetime(_string(payload, "timestamp"))
    return parsed if parsed is not None else event.received_at


def delivery_status_of(event_type: str, payload: Mapping[str, Any]) -> str:
    """The outbox's delivery status for an anymail event type."""
    if event_type == "bounced":
        if payload.get("permanent") is True:
            return EmailMessage.DeliveryStatus.BOUNCED
        return EmailMessage.DeliveryStatus.SOFT_BOUNCED
    return {
        "delivered": EmailMessage.DeliveryStatus.DELIVERED,
        "deferred": EmailMessage.DeliveryStatus.DEFERRED,
        "complained": EmailMessage.DeliveryStatus.COMPLAINED,
        "rejected": EmailMessage.DeliveryStatus.REJECTED,
        "failed": EmailMessage.DeliveryStatus.REJECTED,
    }[event_type]


def suppression_reason_of(event_type: str, payload: Mapping[str, Any]) -> str | None:
    """Why the event's recipient must get no more email, or None."""
    if event_type == "complained":
        return EmailSuppression.Reason.COMPLAINED
    if event_type == "bounced" and payload.get("permanent") is True:
        return EmailSuppression.Reason.BOUNCED
    if event_type == "rejected" and payload.get("reject_reason") == "bounced":
        return EmailSuppression.Reason.BOUNCED
    return None


def tracking_event_apply(event: WebhookEvent) -> None:
    """Apply one stored tracking event to the outbox and the suppression list (the handler)."""
    payload: Mapping[str, Any] = event.payload if isinstance(event.payload, Mapping) else {}
    occurred_at = _occurred_at(payload, event)
    message_id = _string(payload, "message_id")
    detail = _string(payload, "description") or _string(payload, "mta_response")
    if message_id:
        email_delivery_record(
            provider_message_id=message_id,
            delivery_status=delivery_status_of(event.event_type, payload),
            detail=detail,
            occurred_at=occurred_at,
        )
    reason = suppression_reason_of(event.event_type, payload)
    if reason is None:
        return
    email = (
        EmailMessage.objects.filter(provider_message_id=message_id).order_by("-created_at").first()
        if message_id
        else None
    )
    address = _string(payload, "recipient") or (email.to if email is not None else "")
    email_suppress(
        address=address,
        reason=reason,
        provider=event.provider,
        detail=detail,
        occurred_at=occurred_at,
        email=email,
        webhook_event=event,
    )


def register_handlers() -> None:
    """Register the tracking handlers for every email provider (events stored under an
    earlier EMAIL_PROVIDER are still processed and replayable)."""
    for provider in TRACKING_PROVIDERS:
        for event_type in HANDLED_TYPES:
            register(provider, event_type, tracking_event_apply)
