"""Reads of AI usage: the tokens a user spent, the quota period, per-user totals for staff."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from ai.models import AIUsage, AIUserUsage

logger = logging.getLogger(__name__)

# How long the month's token total of a user stays cached before it is summed again from the
# rows (the counter is also kept current by `ai_tokens_count`).
MONTH_TOKENS_CACHE_SECONDS = 3600


def month_start(*, now: datetime | None = None) -> datetime:
    """Midnight UTC on the first day of `now`'s calendar month (UTC): the quota period's start."""
    moment = (now or timezone.now()).astimezone(UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month_start(*, now: datetime | None = None) -> datetime:
    """When the quota period that holds `now` ends and the next one begins."""
    start = month_start(now=now)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def ai_tokens_used(*, user: User, since: datetime) -> int:
    """Total tokens of the user's AI calls from `since` on; one aggregate query."""
    result = (
        AIUsage.objects.for_owner(user)
        .filter(created_at__gte=since)
        .aggregate(tokens=Coalesce(Sum("total_tokens"), Value(0)))
    )
    return int(result["tokens"])


def month_tokens_key(*, user_id: str, now: datetime | None = None) -> str:
    """The cache key of a user's token total for the month that holds `now`."""
    return f"ai:tokens:{user_id}:{month_start(now=now):%Y%m}"


def ai_tokens_this_month(*, user: User) -> int:
    """The user's tokens of the current calendar month (UTC), from the cache in steady state.

    On a miss the rows are summed (one query) and the total cached; every recorded call adds
    its tokens to it (`ai.services`). A cache outage falls back to the query.
    """
    return ai_tokens_this_month_along(user=user, keys=())[0]


def ai_tokens_this_month_along(
    *, user: User, keys: Collection[str], read: Mapping[str, Any] | None = None
) -> tuple[int, dict[str, Any] | None]:
    """`ai_tokens_this_month`, and the cache entries `keys` read in the same round trip: what
    the cache holds of them (a key missing from the dict is not cached), or None when the cache
    could not be read.

    `read`: what an earlier read of the cache found (key -> value, None when not cached); when
    it holds the month's total and every key of `keys`, the cache is not read again.
    """
    key = month_tokens_key(user_id=user.pk)
    wanted = [key, *keys]
    found: dict[str, Any]
    if read is not None and all(name in read for name in wanted):
        found = {name: read[name] for name in wanted if read[name] is not None}
    else:
        try:
            found = cache.get_many(wanted)
        except Exception:
            logger.warning("AI token total not read from the cache", exc_info=True)
            return ai_tokens_used(user=user, since=month_start()), None
    cached = found.pop(key, None)
    if cached is not None:
        return int(cached), found
    used = ai_tokens_used(user=user, since=month_start())
    try:
        cache.add(key, used, MONTH_TOKENS_CACHE_SECONDS)
    except Exception:
        logger.warning("AI token total not cached", exc_info=True)
    return used, found


def ai_usage_list(*, user: User) -> QuerySet[AIUsage]:
    """The user's AI usage rows, newest first."""
    return AIUsage.objects.for_owner(user).order_by("-created_at", "-id")


def ai_user_totals(*, since: datetime) -> QuerySet[AIUserUsage]:
    """Users with AI calls since `since`, each annotated with that period's totals.

    Annotations: `ai_requests`, `ai_failures`, `ai_tokens`, `ai_cost` (USD). One grouped query
    over the (user, created_at) index; users without calls in the period are left out. Biggest
    spenders first.
    """
    totals = (
        AIUserUsage.objects.filter(ai_usage__created_at__gte=since)
        .annotate(
            ai_requests=Count("ai_usage"),
            ai_failures=Count("ai_usage", filter=Q(ai_usage__success=False)),
            ai_tokens=Sum("ai_usage__total_tokens"),
            ai_cost=Sum("ai_usage__cost_estimate"),
        )
        .order_by("-ai_tokens", "id")
    )
    return cast(QuerySet[AIUserUsage], totals)


def ai_usage_totals(*, start: datetime, end: datetime) -> dict[str, Any]:
    """AI calls in [start, end): `requests`, `failed_requests`, `tokens`, `cost` (Decimal), and
    `by_provider` (the same per provider, ordered by provider)."""
    rows = AIUsage.objects.filter(created_at__gte=start, created_at__lt=end)
    sums = {
        "requests": Count("id"),
        "tokens": Coalesce(Sum("total_tokens"), 0),
        "cost": Coalesce(Sum("cost_estimate"), Decimal(0)),
    }
    return {
        **rows.aggregate(**sums),
        "failed_requests": rows.filter(success=False).count(),
        "by_provider": list(
            rows.order_by().values("provider").annotate(**sums).order_by("provider")
        ),
    }


def ai_usage_by_provider(*, month_start: datetime, day_start: datetime) -> list[dict[str, Any]]:
    """AI calls per provider since `month_start`, with the share since `day_start` (a later
    moment): `provider`, `tokens_month`, `cost_month`, `tokens_today`, `cost_today` (USD,
    Decimal), ordered by provider. One grouped query over the (created_at) index."""
    today = Q(created_at__gte=day_start)
    return list(
        AIUsage.objects.filter(created_at__gte=month_start)
        .order_by()
        .values("provider")
        .annotate(
            tokens_month=Coalesce(Sum("total_tokens"), 0),
            cost_month=Coalesce(Sum("cost_estimate"), Decimal(0)),
            tokens_today=Coalesce(Sum("total_tokens", filter=today), 0),
            cost_today=Coalesce(Sum("cost_estimate", filter=today), Decimal(0)),
        )
        .order_by("provider")
    )


def ai_top_spenders(*, since: datetime, limit: int = 5) -> list[dict[str, Any]]:
    """The `limit` users whose AI calls since `since` cost the most: `user_id`, `email`,
    `tokens`, `cost` (USD, Decimal), biggest first. Two queries: the totals, then the emails."""
    top = list(
        AIUsage.objects.filter(created_at__gte=since)
        .order_by()
        .values("user_id")
        .annotate(tokens=Coalesce(Sum("total_tokens"), 0), cost=Sum("cost_estimate"))
        .order_by("-cost", "-tokens", "user_id")[:limit]
    )
    if not top:
        return []
    emails = dict(
        User.objects.filter(pk__in=[row["user_id"] for row in top]).values_list("pk", "email")
    )
    return [{**row, "email": emails.get(row["user_id"], "")} for row in top]
