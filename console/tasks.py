"""Background work for staff: the daily report."""

from __future__ import annotations

from config.celery import retrying_task
from console.reports import daily_report_send


@retrying_task()
def send_daily_report() -> int:
    """Email yesterday's report to staff (09:00 UTC, beat); returns how many emails were
    queued. Safe to run twice: each recipient gets one report per day."""
    return daily_report_send()
