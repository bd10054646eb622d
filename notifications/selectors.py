"""Reads of the email outbox."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

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
