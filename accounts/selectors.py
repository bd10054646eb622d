"""Reads of users."""

from __future__ import annotations

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
