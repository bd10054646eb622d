"""Background work for the audit log: the retention."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from audit.services import audit_events_delete_old
from config.celery import retrying_task


@retrying_task()
def delete_old_audit_events() -> int:
    """Daily (beat): delete events older than AUDIT_RETENTION_DAYS (0: keep them all); returns
    how many. Safe to run twice."""
    days: int = settings.AUDIT_RETENTION_DAYS
    if days == 0:
        return 0
    return audit_events_delete_old(older_than=timedelta(days=days))
