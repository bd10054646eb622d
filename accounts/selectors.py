"""Reads of users."""

from __future__ import annotations

from accounts.models import User


def user_get(*, user_id: str) -> User | None:
    """The user with this id (the identity provider's subject), or None."""
    return User.objects.filter(pk=user_id).first()
