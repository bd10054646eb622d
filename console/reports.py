"""The daily report for staff: yesterday's sign-ups, subscriptions, usage, AI cost, webhooks.

`daily_report` gathers the figures of one UTC day through each app's selectors;
`daily_report_send` emails them (`daily_report` template) to each of `STAFF_REPORT_EMAILS`, or to
every active staff user with an email when that is empty, once per recipient and day
(`console.tasks.send_daily_report`, 09:00 UTC).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from accounts.selectors import staff_emails, user_signups_count
from ai.selectors import ai_usage_totals
from billing.selectors import active_subscription_counts
from notifications.selectors import email_recipients
from notifications.services import email_send
from usage.selectors import usage_totals
from webhooks.selectors import webhook_failures

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
    subscriptions = active_subscription_counts()
    ai = ai_usage_totals(start=start, end=end)
    webhooks = webhook_failures(start=start, end=end)
    return DailyReport(
        day=day.isoformat(),
        new_users=user_signups_count(start=start, end=end),
        active_subscriptions=subscriptions,
        active_subscriptions_total=sum(row["count"] for row in subscriptions),
        usage=usage_totals(day=day),
        ai_requests=ai["requests"],
        ai_failed_requests=ai["failed_requests"],
        ai_tokens=int(ai["tokens"]),
        ai_cost_usd=f"{ai['cost']:.4f}",
        ai_cost_by_provider=[
            {
                "provider": row["provider"],
                "requests": row["requests"],
                "tokens": row["tokens"],
                "cost_usd": f"{row['cost']:.4f}",
            }
            for row in ai["by_provider"]
        ],
        webhooks_failed_on_day=webhooks["received"],
        webhooks_failed_now=webhooks["now"],
    )


def report_recipients() -> list[str]:
    """`STAFF_REPORT_EMAILS`, or else every active staff user's email."""
    if settings.STAFF_REPORT_EMAILS:
        return list(dict.fromkeys(settings.STAFF_REPORT_EMAILS))
    return staff_emails()


def daily_report_send(*, day: date | None = None) -> int:
    """Email the report of `day` (default: yesterday, UTC) to each recipient who has not had it.

    Safe to run twice: a recipient already sent (or queued) that day's report gets none.
    Returns how many emails were queued.
    """
    day = day or timezone.now().date() - timedelta(days=1)
    report = asdict(daily_report(day=day))
    already = email_recipients(template=TEMPLATE, day=report["day"])
    queued = 0
    for address in report_recipients():
        if address in already:
            continue
        email_send(to=address, template=TEMPLATE, context=report)
        queued += 1
    return queued
