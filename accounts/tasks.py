"""Background work for accounts."""

from __future__ import annotations

from accounts.services import user_erase
from config.celery import retrying_task


@retrying_task()
def erase_user(user_id: str) -> bool:
    """Erase a deactivated user's personal data (GDPR); safe to run twice."""
    return user_erase(user_id=user_id)
