"""Background work for usage: the flush of the cache counters."""

from __future__ import annotations

from config.celery import retrying_task
from usage.services import usage_flush


@retrying_task()
def flush_usage_counters() -> int:
    """Add the usage counted in the cache to the database (every minute, beat); returns how
    many (user, metric, day) counts were added. Safe to overlap with itself and to retry."""
    return usage_flush()
