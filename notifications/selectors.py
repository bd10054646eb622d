"""Reads of the email outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count, Q, QuerySet

from notifications.models import EmailMessage


def email_list(*, user: Any) -> QuerySet[EmailMessage]:
    """The emails about `user`, newest first."""
    return EmailMessage.objects.filter(user=user).order_by("-created_at")


def email_recipients(*, template: str, day: str) -> set[str]:
    """The addresses already sent (or queued) the email `template` whose context's `day` is
    `day` (an ISO date): how a daily email is sent once per recipient and day."""
    return set(
        EmailMessage.objects.filter(template=template, context__day=day).values_list(
            "to", flat=True
        )
    )


def email_outbox_state(*, failed_since: datetime) -> dict[str, int]:
    """The outbox's trouble in one aggregate query: `failed_recent` (failed, their last attempt
    from `failed_since` on), `failed` (every failed email) and `queued` (not sent yet)."""
    failed = Q(status=EmailMessage.Status.FAILED)
    # Sent emails (nearly every row) are left out by the status index before counting.
    return EmailMessage.objects.filter(
        status__in=(EmailMessage.Status.FAILED, EmailMessage.Status.QUEUED)
    ).aggregate(
        failed_recent=Count("id", filter=failed & Q(updated_at__gte=failed_since)),
        failed=Count("id", filter=failed),
        queued=Count("id", filter=Q(status=EmailMessage.Status.QUEUED)),
    )
