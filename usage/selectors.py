"""Reads of usage: the counts of a day for staff, and a user's summary for /usage/summary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from usage import metrics as usage_metrics
from usage.models import UsageCounter
from usage.services import METRICS, usage_cached


@dataclass(frozen=True)
class UsageSummary:
    """A user's usage over a period, with the limits of their plan."""

    period_start: datetime
    period_end: datetime
    metrics: dict[str, int]
    limits: Any


def usage_summary(*, user: Any, days: int) -> UsageSummary:
    """The user's usage from the start (UTC) of the day `days - 1` days ago until now.

    Each counted metric (`usage.services.METRICS`) is the sum of the flushed daily counters plus
    the counts still in the cache; the registered gauges (`usage.metrics`: `storage_bytes`, what
    the user's files take up now) are added as they are now, and `limits` are the registered
    limits of the user's plan. Four queries at most, whatever the period.
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
    metrics.update(usage_metrics.gauges_of(user))
    return UsageSummary(
        period_start=period_start,
        period_end=period_end,
        metrics=metrics,
        limits=usage_metrics.limits_of(user),
    )


def usage_totals(*, day: date) -> dict[str, int]:
    """Every user's flushed usage of `day` added up, per metric (each metric present)."""
    rows = dict(
        UsageCounter.objects.filter(day=day)
        .order_by()
        .values("metric")
        .annotate(total=Sum("value"))
        .values_list("metric", "total")
    )
    return {metric: int(rows.get(metric) or 0) for metric in METRICS}
