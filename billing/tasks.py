"""Background work for billing."""

from __future__ import annotations

from django.conf import settings

from billing import stripe_gateway
from billing.reports import daily_report_send
from billing.services import entitlements_expire_lapsed
from billing.stripe_services import stripe_events_reconcile
from billing.usage import usage_flush
from config.celery import retrying_task


@retrying_task()
def expire_lapsed_entitlements() -> int:
    """Expire entitlements whose period ended and recompute their users' plans (hourly, beat)."""
    return entitlements_expire_lapsed()


@retrying_task()
def reconcile_stripe_events() -> int:
    """Fetch Stripe's events of the last STRIPE_RECONCILE_DAYS days and process the missed
    ones (hourly, beat); returns how many were new. Does nothing without Stripe."""
    if not stripe_gateway.is_configured():
        return 0
    return stripe_events_reconcile(days=settings.STRIPE_RECONCILE_DAYS)


@retrying_task()
def flush_usage_counters() -> int:
    """Add the usage counted in the cache to the database (every minute, beat); returns how
    many (user, metric, day) counts were added. Safe to overlap with itself and to retry."""
    return usage_flush()


@retrying_task()
def send_daily_usage_report() -> int:
    """Email yesterday's usage report to staff (09:00 UTC, beat); returns how many emails were
    queued. Safe to run twice: each recipient gets one report per day."""
    return daily_report_send()
