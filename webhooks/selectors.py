"""Reads of the webhook ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count

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
