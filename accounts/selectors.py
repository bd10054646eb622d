"""Reads of users."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncDate

from accounts.models import User
from accounts.user_cache import cached_user, remember_user


def user_get(*, user_id: str) -> User | None:
    """The user with this id (the identity provider's subject), or None."""
    return User.objects.filter(pk=user_id).first()


def user_get_cached(*, user_id: str) -> User | None:
    """`user_get` through the short-lived user cache (the authentication hot path)."""
    user = cached_user(user_id)
    if user is None:
        user = user_get(user_id=user_id)
        if user is not None:
            remember_user(user)
    return user


def user_signups_count(*, start: datetime, end: datetime) -> int:
    """How many users were created in [start, end)."""
    return User.objects.filter(created_at__gte=start, created_at__lt=end).count()


def staff_emails() -> list[str]:
    """The emails of every active staff user, lower-cased, once each, in order."""
    emails = (
        User.objects.filter(is_staff=True, is_active=True)
        .exclude(email="")
        .order_by("email")
        .values_list("email", flat=True)
    )
    return list(dict.fromkeys(email.lower() for email in emails))


def user_stats(*, now: datetime, active_days: int = 30) -> dict[str, int]:
    """Customers (staff accounts left out) counted in one aggregate query: `total`, `active`
    (not deactivated and signed in within `active_days` of `now`, by `last_login_at`), `new_7d`
    and `new_30d` (created within 7 and 30 days of `now`)."""
    return User.objects.filter(is_staff=False).aggregate(
        total=Count("pk"),
        active=Count(
            "pk", filter=Q(is_active=True, last_login_at__gte=now - timedelta(days=active_days))
        ),
        new_7d=Count("pk", filter=Q(created_at__gte=now - timedelta(days=7))),
        new_30d=Count("pk", filter=Q(created_at__gte=now - timedelta(days=30))),
    )


def user_signups_per_day(*, since: datetime) -> dict[date, int]:
    """Customers (staff left out) created from `since` on, counted per UTC day (days without
    sign-ups are absent); one grouped query."""
    rows = (
        User.objects.filter(is_staff=False, created_at__gte=since)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .order_by()
        .values("day")
        .annotate(count=Count("pk"))
        .values_list("day", "count")
    )
    return dict(rows)
