"""The daily usage report for staff: yesterday's sign-ups, subscriptions, usage, AI cost, webhooks.

`daily_report` gathers the figures of one UTC day; `daily_report_send` emails them
(`daily_report` template) to each of `STAFF_REPORT_EMAILS`, or to every active staff user with an
email when that is empty, once per recipient and day (`billing.tasks.send_daily_usage_report`,
09:00 UTC).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.emails import email_send
from accounts.models import EmailMessage, User
from ai.models import AIUsage
from billing.models import Entitlement, UsageCounter
from billing.selectors import entitled_q
from billing.usage import METRICS
from webhooks.models import WebhookEvent

TEMPLATE = "daily_report"


@dataclass(frozen=True)
class DailyReport:
    """The figures of one day (UTC); subscriptions and failed webhooks as of now."""

    day: str
    new_users: int
    active_subscriptions: list[dict[str, Any]]
    active_subscriptions_total: int
    usage: dict[str, int]
    ai_requests: int
    ai_failed_requests: int
    ai_tokens: int
    ai_cost_usd: str
    ai_cost_by_provider: list[dict[str, Any]]
    webhooks_failed_on_day: int
    webhooks_failed_now: list[dict[str, Any]]


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
    return start, start + timedelta(days=1)


def daily_report(*, day: date) -> DailyReport:
    """The report of `day`: a handful of aggregate queries, whatever the volume."""
    start, end = _day_bounds(day)
    new_users = User.objects.filter(created_at__gte=start, created_at__lt=end).count()
    subscriptions = list(
        Entitlement.objects.filter(entitled_q())
        .exclude(plan=Entitlement.Plan.FREE)
        .order_by()
        .values("plan", "source")
        .annotate(count=Count("id"))
        .order_by("plan", "source")
    )
    usage_rows = dict(
        UsageCounter.objects.filter(day=day)
        .order_by()
        .values("metric")
        .annotate(total=Sum("value"))
        .values_list("metric", "total")
    )
    ai_rows = AIUsage.objects.filter(created_at__gte=start, created_at__lt=end)
    ai_totals = ai_rows.aggregate(
        requests=Count("id"),
        tokens=Coalesce(Sum("total_tokens"), 0),
        cost=Coalesce(Sum("cost_estimate"), Decimal(0)),
    )
    by_provider = [
        {
            "provider": row["provider"],
            "requests": row["requests"],
            "tokens": row["tokens"],
            "cost_usd": f"{row['cost']:.4f}",
        }
        for row in ai_rows.order_by()
        .values("provider")
        .annotate(
            requests=Count("id"),
            tokens=Coalesce(Sum("total_tokens"), 0),
            cost=Coalesce(Sum("cost_estimate"), Decimal(0)),
        )
        .order_by("provider")
    ]
    failed = WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED)
    return DailyReport(
        day=day.isoformat(),
        new_users=new_users,
        active_subscriptions=subscriptions,
        active_subscriptions_total=sum(row["count"] for row in subscriptions),
        usage={metric: int(usage_rows.get(metric) or 0) for metric in METRICS},
        ai_requests=ai_totals["requests"],
        ai_failed_requests=ai_rows.filter(success=False).count(),
        ai_tokens=int(ai_totals["tokens"]),
        ai_cost_usd=f"{ai_totals['cost']:.4f}",
        ai_cost_by_provider=by_provider,
        webhooks_failed_on_day=failed.filter(received_at__gte=start, received_at__lt=end).count(),
        webhooks_failed_now=list(
            failed.order_by().values("provider").annotate(count=Count("id")).order_by("provider")
        ),
    )


def report_recipients() -> list[str]:
    """`STAFF_REPORT_EMAILS`, or else every active staff user's email."""
    if settings.STAFF_REPORT_EMAILS:
        return list(dict.fromkeys(settings.STAFF_REPORT_EMAILS))
    emails = (
        User.objects.filter(is_staff=True, is_active=True)
        .exclude(email="")
        .order_by("email")
        .values_list("email", flat=True)
    )
    return list(dict.fromkeys(email.lower() for email in emails))


def daily_report_send(*, day: date | None = None) -> int:
    """Email the report of `day` (default: yesterday, UTC) to each recipient who has not had it.

    Safe to run twice: a recipient already sent (or queued) that day's report gets none.
    Returns how many emails were queued.
    """
    day = day or timezone.now().date() - timedelta(days=1)
    report = asdict(daily_report(day=day))
    already = set(
        EmailMessage.objects.filter(template=TEMPLATE, context__day=report["day"]).values_list(
            "to", flat=True
        )
    )
    queued = 0
    for address in report_recipients():
        if address in already:
            continue
        email_send(to=address, template=TEMPLATE, context=report)
        queued += 1
    return queued
