"""Background work for accounts: erasure, the email outbox and data exports."""

from __future__ import annotations

from celery import current_task
from django.conf import settings

from accounts.emails import email_deliver
from accounts.exports import data_export_build
from accounts.services import user_erase
from config.celery import retrying_task


@retrying_task()
def erase_user(user_id: str) -> bool:
    """Erase a deactivated user's personal data (GDPR); safe to run twice."""
    return user_erase(user_id=user_id)


@retrying_task(max_retries=settings.EMAIL_SEND_MAX_RETRIES)
def send_email(message_id: str) -> str:
    """Send one outbox email; retried with back-off, then marked failed. Safe to run twice."""
    return email_deliver(message_id=message_id, final_attempt=_is_final_attempt())


@retrying_task()
def build_data_export(export_id: str, base_url: str) -> str:
    """Build a user's data export, store it and email the link. Safe to run twice."""
    return data_export_build(
        export_id=export_id, base_url=base_url, final_attempt=_is_final_attempt()
    )


def _is_final_attempt() -> bool:
    """True when the running task may not be retried any more."""
    return bool(current_task.request.retries >= (current_task.max_retries or 0))
