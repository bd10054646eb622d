"""Reads of the email outbox and the suppression list."""

from __future__ import annotations

from datetime import datetime
from email.utils import parseaddr
from typing import Any

from django.db.models import Count, Q, QuerySet

from notifications.models import EmailMessage, EmailSuppression


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


def email_address_normalize(address: str) -> str:
    """The form the suppression list keys addresses by: the bare address (a display name
    dropped), trimmed, in lower case (providers treat addresses case-insensitively)."""
    bare = parseaddr(address)[1] or address
    return bare.strip().lower()


def email_suppression_get(*, address: str) -> EmailSuppression | None:
    """The suppression list's entry for `address` (in any case or form), or None."""
    normalised = email_address_normalize(address)
    if not normalised:
        return None
    return EmailSuppression.objects.filter(address=normalised).first()
