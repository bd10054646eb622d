"""Reads of the webhook ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count, Min, Q

from webhooks.models import WebhookEvent


def webhook_failures(*, start: datetime, end: datetime) -> dict[str, Any]:
    """Failed events: `received` in [start, end) (a count), and `now` (all failed events
    counted per provider: `provider`, `count` rows, ordered by provider)."""
    failed = WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED)
    return {
        "received": failed.filter(received_at__gte=start, received_at__lt=end).count(),
        "now": list(
            failed.order_by().values("provider").annotate(count=Count("id")).order_by("provider")
        ),
    }


PENDING_STATUSES = (WebhookEvent.Status.RECEIVED, WebhookEvent.Status.PROCESSING)


def webhook_backlog(*, failed_since: datetime) -> dict[str, Any]:
    """What the ledger has left to do, in one aggregate query: `pending` (received or
    processing), `oldest_pending` (the `received_at` of the oldest of those, or None) and
    `failed` (events that ended failed, their last write from `failed_since` on)."""
    pending = Q(status__in=PENDING_STATUSES)
    # Processed and ignored events (nearly every row) are left out by the status index first.
    return WebhookEvent.objects.filter(
        status__in=(*PENDING_STATUSES, WebhookEvent.Status.FAILED)
    ).aggregate(
        pending=Count("id", filter=pending),
        oldest_pending=Min("received_at", filter=pending),
        failed=Count(
            "id", filter=Q(status=WebhookEvent.Status.FAILED, updated_at__gte=failed_since)
        ),
    )
