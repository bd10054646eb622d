"""Background work for billing."""

from __future__ import annotations

from celery import shared_task

from billing.services import entitlements_expire_lapsed


@shared_task(
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def expire_lapsed_entitlements() -> int:
    """Expire entitlements whose period ended and recompute their users' plans (hourly, beat)."""
    return entitlements_expire_lapsed()
