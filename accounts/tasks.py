"""Background work for accounts: erasure and data exports."""

from __future__ import annotations

from accounts.exports import data_export_build
from accounts.services import user_erase
from config.celery import is_final_attempt, retrying_task


@retrying_task()
def erase_user(user_id: str) -> bool:
    """Erase a deactivated user's personal data (GDPR); safe to run twice."""
    return user_erase(user_id=user_id)


@retrying_task()
def build_data_export(export_id: str, base_url: str) -> str:
    """Build a user's data export, store it and email the link. Safe to run twice."""
    return data_export_build(
        export_id=export_id, base_url=base_url, final_attempt=is_final_attempt()
    )
