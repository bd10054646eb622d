"""Background work for notifications: sending the email outbox, sweeping up lost sends, and
deleting old rows."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from config.celery import is_final_attempt, retrying_task
from notifications.services import email_deliver, emails_purge_old, emails_requeue_unsent


@retrying_task(max_retries=settings.EMAIL_SEND_MAX_RETRIES)
def send_email(message_id: str) -> str:
    """Send one outbox email; retried with back-off, then marked failed. Safe to run twice."""
    return email_deliver(message_id=message_id, final_attempt=is_final_attempt())


@retrying_task()
def send_unsent_emails() -> int:
    """Periodic: send again the emails whose task was lost (see `emails_requeue_unsent`)."""
    return emails_requeue_unsent(older_than=timedelta(minutes=settings.EMAIL_STALE_AFTER_MINUTES))


@retrying_task()
def purge_old_emails() -> int:
    """Daily (beat): delete outbox rows past EMAIL_RETENTION_DAYS (failed and bounced ones past
    EMAIL_FAILED_RETENTION_DAYS); returns how many. Safe to run twice."""
    return emails_purge_old(
        older_than=timedelta(days=settings.EMAIL_RETENTION_DAYS),
        failed_older_than=timedelta(days=settings.EMAIL_FAILED_RETENTION_DAYS),
    )
