"""Reads of entitlements and usage: the user's effective plan, its limits, the billing status,
the plans, and the usage summary.

Which entitlements grant access
- status `active`, `trialing`, `past_due` or `grace` (`Entitlement.ENTITLED_STATUSES`): a source
  that is still retrying a payment keeps the customer entitled until it gives up and reports
  `canceled` or `expired`;
- and a `current_period_end` that is empty (no end) or not yet passed. Subscriptions from a
  store (Stripe, Apple, Google) renew by notification, which can arrive after the period end, so
  they keep access for `RENEWAL_LEEWAY` past it; a manual grant ends exactly at its end.

The effective entitlement is the best of those: enterprise over pro over free, then the one that
runs longest (no end first), then the newest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Case, F, IntegerField, Q, QuerySet, Sum, Value, When
from django.utils import timezone
from djstripe.models import Customer, Invoice, Price

from accounts.models import User
from billing.models import Entitlement, UsageCounter
from billing.usage import METRICS, usage_cached
from files.selectors import file_storage_used

# How long a store subscription stays entitled after its period end while its renewal notice is
# on its way (delivery retries take hours; a day covers them).
RENEWAL_LEEWAY = timedelta(days=1)

NO_SUBSCRIPTION_STATUS = "none"

# Billing intervals a plan can have a price for, and how an offer id names them.
INTERVAL_NAMES = {"month": "monthly", "year": "yearly"}

# Plans from least to most; a purchase that maps to several takes the highest.
PLAN_ORDER: dict[str, int] = {
    Entitlement.Plan.FREE: 0,
    Entitlement.Plan.PRO: 1,
    Entitlement.Plan.ENTERPRISE: 2,
}

PLAN_RANK = Case(
    When(plan=Entitlement.Plan.ENTERPRISE, then=Value(2)),
    When(plan=Entitlement.Plan.PRO, then=Value(1)),
    default=Value(0),
    output_field=IntegerField(),
)


@dataclass(frozen=True)
class PlanLimits:
    """What a plan allows (from `settings.BILLING_PLANS`)."""

    plan: str
    ai_tokens_per_month: int
    storage_bytes: int
    rate_limit: str


@dataclass(frozen=True)
class BillingStatus:
    """The user's billing state as GET /billing/status shows it."""

    plan: str
    status: str
    source: str | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    has_active_subscription: bool


@dataclass(frozen=True)
class PlanOffer:
    """One plan for sale at one billing interval."""

    id: str
    plan: str
    name: str
    interval: str
    amount: int
    currency: str
    limits: PlanLimits


def lapsed_q(*, now: datetime | None = None) -> Q:
    """Entitlements in an entitled status whose period has ended for good at `now`."""
    now = now or timezone.now()
    manual = Q(source=Entitlement.Source.MANUAL)
    return Q(status__in=Entitlement.ENTITLED_STATUSES, current_period_end__isnull=False) & (
        (manual & Q(current_period_end__lte=now))
        | (~manual & Q(current_period_end__lte=now - RENEWAL_LEEWAY))
    )


def entitled_q(*, now: datetime | None = None) -> Q:
    """Entitlements that grant access at `now` (see the module doc)."""
    now = now or timezone.now()
    manual = Q(source=Entitlement.Source.MANUAL)
    return Q(status__in=Entitlement.ENTITLED_STATUSES) & (
        Q(current_period_end__isnull=True)
        | (manual & Q(current_period_end__gt=now))
        | (~manual & Q(current_period_end__gt=now - RENEWAL_LEEWAY))
    )


def entitlement_list(*, user: User) -> QuerySet[Entitlement]:
    """Every entitlement of the user, from every source, newest first."""
    return Entitlement.objects.filter(user=user).order_by("-created_at", "-id")


def effective_entitlement(*, user: User) -> Entitlement | None:
    """The entitlement that decides the user's plan now, or None (the user is on free)."""
    return (
        Entitlement.objects.filter(entitled_q(), user=user)
        .annotate(plan_rank=PLAN_RANK)
        .order_by(
            "-plan_rank",
            F("current_period_end").desc(nulls_first=True),
            "-created_at",
            "-id",
        )
        .first()
    )


def limits_of(*, plan: str) -> PlanLimits:
    """The limits of one plan, as configured."""
    config: dict[str, Any] = settings.BILLING_PLANS[plan]
    return PlanLimits(
        plan=plan,
        ai_tokens_per_month=config["ai_tokens_per_month"],
        storage_bytes=config["storage_bytes"],
        rate_limit=config["rate_limit"],
    )


def plan_limits(*, user: User) -> PlanLimits:
    """The limits of the user's effective plan (free without an entitlement); one query."""
    entitlement = effective_entitlement(user=user)
    return limits_of(plan=entitlement.plan if entitlement else Entitlement.Plan.FREE)


def billing_status(*, user: User) -> BillingStatus:
    """The user's plan and where it comes from, from the database only; one query.

    Without an entitlement that grants access: plan `free`, status `none`, no source.
    `has_active_subscription` is true while a paid plan (pro, enterprise) is granted, whatever
    its source.
    """
    entitlement = effective_entitlement(user=user)
    if entitlement is None:
        return BillingStatus(
            plan=Entitlement.Plan.FREE,
            status=NO_SUBSCRIPTION_STATUS,
            source=None,
            current_period_end=None,
            cancel_at_period_end=False,
            has_active_subscription=False,
        )
    return BillingStatus(
        plan=entitlement.plan,
        status=entitlement.status,
        source=entitlement.source,
        current_period_end=entitlement.current_period_end,
        cancel_at_period_end=entitlement.cancel_at_period_end,
        has_active_subscription=entitlement.plan != Entitlement.Plan.FREE,
    )


def _stripe_prices() -> dict[str, Price]:
    """The configured Stripe prices as dj-stripe stored them, by interval ("month", "year").

    Empty (and no query) when Stripe is not configured.
    """
    if not settings.STRIPE_SECRET_KEY:
        return {}
    by_id = {
        settings.STRIPE_PRICE_ID_MONTHLY: "month",
        settings.STRIPE_PRICE_ID_YEARLY: "year",
    }
    by_id.pop("", None)
    if not by_id:
        return {}
    return {by_id[price.id]: price for price in Price.objects.filter(id__in=list(by_id))}


def plan_offers() -> list[PlanOffer]:
    """The plans for sale with their prices, in the order of `settings.BILLING_PLANS`.

    A plan is for sale at each interval it has a price for there (free has none). Once Stripe
    is configured, pro's prices are those of the Stripe prices STRIPE_PRICE_ID_MONTHLY and
    _YEARLY as last synced (by their webhooks and the hourly reconciliation); the settings'
    prices remain the fallback until a price has been synced. At most one query.
    """
    stripe_prices = _stripe_prices()
    offers = []
    for plan, config in settings.BILLING_PLANS.items():
        for interval, amount in config.get("prices", {}).items():
            currency = settings.BILLING_CURRENCY
            price = stripe_prices.get(interval) if plan == Entitlement.Plan.PRO else None
            if price is not None and price.unit_amount is not None:
                amount, currency = int(price.unit_amount), str(price.currency).lower()
            offers.append(
                PlanOffer(
                    id=f"{plan}_{INTERVAL_NAMES[interval]}",
                    plan=plan,
                    name=config["name"],
                    interval=interval,
                    amount=amount,
                    currency=currency,
                    limits=limits_of(plan=plan),
                )
            )
    return offers


# --- Usage -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageSummary:
    """A user's usage over a period, with the limits of their plan."""

    period_start: datetime
    period_end: datetime
    metrics: dict[str, int]
    limits: PlanLimits


def usage_summary(*, user: User, days: int) -> UsageSummary:
    """The user's usage from the start (UTC) of the day `days - 1` days ago until now.

    Each counted metric (`billing.usage.METRICS`) is the sum of the flushed daily counters plus
    the counts still in the cache; `storage_bytes` is what the user's files take up now (the
    figure the storage quota checks). Four queries at most, whatever the period.
    """
    period_end = timezone.now()
    start_day = period_end.date() - timedelta(days=days - 1)
    period_start = datetime.combine(start_day, time.min, tzinfo=period_end.tzinfo)
    # The cache before the database: a batch flushed in between is then in the database and
    # recognised as flushed by `totals()`, never counted twice.
    cached = usage_cached(user_id=user.pk, since=start_day)
    stored = dict(
        UsageCounter.objects.filter(user=user, day__gte=start_day)
        .order_by()
        .values("metric")
        .annotate(total=Sum("value"))
        .values_list("metric", "total")
    )
    pending = cached.totals()
    metrics = {metric: int(stored.get(metric) or 0) + pending.get(metric, 0) for metric in METRICS}
    metrics["storage_bytes"] = file_storage_used(owner=user)
    return UsageSummary(
        period_start=period_start,
        period_end=period_end,
        metrics=metrics,
        limits=plan_limits(user=user),
    )


# --- Stripe ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceSummary:
    """One Stripe invoice as GET /billing/invoices shows it."""

    id: str
    number: str | None
    status: str | None
    amount_due: int
    amount_paid: int
    currency: str
    created: datetime | None
    hosted_invoice_url: str | None
    invoice_pdf: str | None


def has_paid_purchase(*, user: User) -> bool:
    """The user holds a store purchase (Stripe, App Store, Google Play) that grants access now.

    Manual grants by staff do not count: they do not stop the user from buying.
    """
    return (
        Entitlement.objects.filter(entitled_q(), user=user)
        .exclude(source=Entitlement.Source.MANUAL)
        .exists()
    )


def stripe_entitlement_current(*, user: User) -> Entitlement | None:
    """The user's Stripe subscription that grants access now (the best one), or None."""
    return (
        Entitlement.objects.filter(entitled_q(), user=user, source=Entitlement.Source.STRIPE)
        .annotate(plan_rank=PLAN_RANK)
        .order_by("-plan_rank", F("current_period_end").desc(nulls_first=True), "-created_at")
        .first()
    )


def stripe_customer_get(*, user: User) -> Customer | None:
    """The user's Stripe customer in the configured mode (test or live), newest first."""
    return (
        Customer.objects.filter(
            subscriber=user, livemode=settings.STRIPE_LIVE_MODE, date_purged__isnull=True
        )
        .order_by("-created", "-djstripe_id")
        .first()
    )


def invoice_list(*, user: User, limit: int) -> list[InvoiceSummary]:
    """The user's Stripe invoices as last synced, newest first; one query, no Stripe call."""
    invoices = (
        Invoice.objects.filter(customer__subscriber=user)
        .order_by("-created", "-djstripe_id")
        .only("id", "created", "stripe_data")[:limit]
    )
    return [
        InvoiceSummary(
            id=invoice.id,
            number=invoice.stripe_data.get("number"),
            status=invoice.stripe_data.get("status"),
            amount_due=int(invoice.stripe_data.get("amount_due") or 0),
            amount_paid=int(invoice.stripe_data.get("amount_paid") or 0),
            currency=str(invoice.stripe_data.get("currency") or ""),
            created=invoice.created,
            hosted_invoice_url=invoice.stripe_data.get("hosted_invoice_url"),
            invoice_pdf=invoice.stripe_data.get("invoice_pdf"),
        )
        for invoice in invoices
    ]
