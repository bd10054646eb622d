"""A short-lived cache of users by id, so authenticating a request needs no SQL.

Entries live `USER_CACHE_SECONDS` and are forgotten after every committed change to the row
(`User.save`, and the services that use `QuerySet.update`), so a deactivation or a role change is
seen by the next request in every process. A cache outage only costs the database query.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.core.cache import cache
from django.db import transaction

from config.outages import OutageLog

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)
CACHE_OUTAGE = OutageLog(logger, "user cache unavailable, users read from the database")

USER_CACHE_SECONDS = 60


def user_cache_key(user_id: str) -> str:
    """The cache key of a user's entry."""
    return f"user:{user_id}"


def cached_user(user_id: str) -> User | None:
    """The cached user, or None when absent or the cache is down."""
    try:
        user: Any = cache.get(user_cache_key(user_id))
    except Exception as error:  # noqa: BLE001 - the database answers instead
        CACHE_OUTAGE.failed(error)
        return None
    CACHE_OUTAGE.recovered()
    return user


def remember_user(user: User) -> None:
    """Cache `user` (as read from the database) for the next requests."""
    try:
        cache.set(user_cache_key(user.pk), user, USER_CACHE_SECONDS)
    except Exception as error:  # noqa: BLE001 - caching is an optimisation only
        CACHE_OUTAGE.failed(error)


def forget_users(*user_ids: str) -> None:
    """Drop cached users now and again after the current transaction commits.

    The second delete covers a request that re-cached the old row before the commit.
    """

    def forget() -> None:
        try:
            cache.delete_many([user_cache_key(user_id) for user_id in user_ids])
        except Exception as error:  # noqa: BLE001 - entries expire on their own
            CACHE_OUTAGE.failed(error)

    forget()
    transaction.on_commit(forget)
