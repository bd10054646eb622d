"""Reads of users."""

from __future__ import annotations

from datetime import datetime

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
