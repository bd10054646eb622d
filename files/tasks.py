"""Background work for files."""

from __future__ import annotations

from config.celery import retrying_task
from files import storage


@retrying_task(max_retries=8)
def delete_stored_objects(keys: list[str]) -> None:
    """Remove the stored objects of deleted files; safe to run twice."""
    storage.delete_objects(keys=keys)
