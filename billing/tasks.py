"""Background work for billing."""

from __future__ import annotations

from django.conf import settings

from billing.services import entitlements_expire_lapsed
from billing.stripe import client as stripe_client
from billing.stripe.events import stripe_events_reconcile
from config.celery import retrying_task


@retrying_task()
def expire_lapsed_entitlements() -> int:
    """Expire entitlements whose period ended and recompute their users' plans (hourly, beat)."""
    return entitlements_expire_lapsed()


@retrying_task()
def reconcile_stripe_events() -> int:
    """Fetch Stripe's events of the last STRIPE_RECONCILE_DAYS days and process the missed
    ones (hourly, beat); returns how many were new. Does nothing without Stripe."""
    if not stripe_client.is_configured():
        return 0
    return stripe_events_reconcile(days=settings.STRIPE_RECONCILE_DAYS)
