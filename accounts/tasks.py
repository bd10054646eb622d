"""Background work for accounts."""

from __future__ import annotations

from celery import shared_task

from accounts.services import user_erase


@shared_task(
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def erase_user(user_id: str) -> bool:
    """Erase a deactivated user's personal data (GDPR); safe to run twice."""
    return user_erase(user_id=user_id)
