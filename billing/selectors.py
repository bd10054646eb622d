"""Reads of entitlements: the user's effective plan, its limits, the billing status and the plans.

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
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Case, Count, F, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone
from djstripe.models import Price

from accounts.models import User
from billing.models import Entitlement

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
    # The AI models the plan's users may call (its allowlist; start-up checks each is priced).
    ai_models: tuple[str, ...] = ()


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


def active_subscription_counts() -> list[dict[str, Any]]:
    """Paid entitlements granting access now, counted by plan and source (`plan`, `source`,
    `count` rows, ordered by plan then source)."""
    return list(
        Entitlement.objects.filter(entitled_q())
        .exclude(plan=Entitlement.Plan.FREE)
        .order_by()
        .values("plan", "source")
        .annotate(count=Count("id"))
        .order_by("plan", "source")
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
        ai_models=tuple(config.get("ai_models", ())),
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


def has_paid_purchase(*, user: User) -> bool:
    """The user holds a store purchase (Stripe, App Store, Google Play) that grants access now.

    Manual grants by staff do not count: they do not stop the user from buying.
    """
    return (
        Entitlement.objects.filter(entitled_q(), user=user)
        .exclude(source=Entitlement.Source.MANUAL)
        .exists()
    )


@dataclass(frozen=True)
class SubscriptionSummary:
    """Paid subscriptions granting access now, and the monthly recurring revenue they make.

    `rows`: `plan`, `source`, `count` (every paid entitlement granting access) and `paying` (of
    those, the ones MRR counts), ordered by plan then source. `mrr_cents`: `paying` times the
    plan's monthly list price (`settings.BILLING_MONTHLY_PRICE_CENTS`), in `currency`.
    """

    rows: list[dict[str, Any]]
    mrr_cents: int
    currency: str

    @property
    def total(self) -> int:
        """Every paid subscription granting access now."""
        return sum(row["count"] for row in self.rows)

    def count_by(self, key: str) -> dict[str, int]:
        """Subscriptions per `plan` or per `source`, in the order the rows give them."""
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row[key]] = counts.get(row[key], 0) + row["count"]
        return counts


def subscription_summary(*, now: datetime | None = None) -> SubscriptionSummary:
    """Paid entitlements granting access at `now` by plan and source, with MRR; one query.

    MRR counts an entitlement that a store bills (Stripe, App Store, Google Play) and that is not
    in its trial, at its plan's monthly list price whatever its billing interval: an estimate at
    list price, before discounts, taxes and store fees. Manual grants are not billed, so not
    counted; a plan without a monthly price (enterprise unless configured) adds nothing.
    """
    paying = ~Q(status=Entitlement.Status.TRIALING) & ~Q(source=Entitlement.Source.MANUAL)
    rows = list(
        Entitlement.objects.filter(entitled_q(now=now))
        .exclude(plan=Entitlement.Plan.FREE)
        .order_by()
        .values("plan", "source")
        .annotate(count=Count("id"), paying=Count("id", filter=paying))
        .order_by("plan", "source")
    )
    prices: dict[str, int] = settings.BILLING_MONTHLY_PRICE_CENTS
    return SubscriptionSummary(
        rows=rows,
        mrr_cents=sum(row["paying"] * prices.get(row["plan"], 0) for row in rows),
        currency=settings.BILLING_CURRENCY,
    )
