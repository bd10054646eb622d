"""Background work for files."""

from __future__ import annotations

from celery import shared_task

from files import storage


@shared_task(
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=8,
)
def delete_stored_objects(keys: list[str]) -> None:
    """Remove the stored objects of deleted files; safe to run twice."""
    storage.delete_objects(keys=keys)
