"""Background work for files."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings

from config.celery import retrying_task
from files import storage

logger = logging.getLogger(__name__)


@retrying_task(max_retries=8)
def delete_stored_objects(keys: list[str]) -> None:
    """Remove the stored objects of deleted files; safe to run twice."""
    storage.delete_objects(keys=keys)


@retrying_task()
def purge_expired_uploads() -> int:
    """Weekly (beat): delete pending uploads whose upload URL expired more than
    FILE_PENDING_PURGE_DAYS ago, rows and stored bytes; returns how many. Safe to run twice."""
    from files.services import files_purge_expired_pending  # services import this module

    older_than = timedelta(
        seconds=settings.FILE_UPLOAD_URL_EXPIRES, days=settings.FILE_PENDING_PURGE_DAYS
    )
    purged = files_purge_expired_pending(older_than=older_than)
    logger.info("purged %d expired pending upload(s)", purged)
    return purged


@retrying_task()
def purge_failed_uploads() -> int:
    """Daily (beat): delete failed uploads older than FILE_FAILED_RETENTION_DAYS, rows and any
    stored bytes; returns how many. Safe to run twice."""
    from files.services import files_purge_failed  # services import this module

    purged = files_purge_failed(older_than=timedelta(days=settings.FILE_FAILED_RETENTION_DAYS))
    logger.info("purged %d failed upload(s)", purged)
    return purged
