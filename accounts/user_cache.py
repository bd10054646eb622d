"""A short-lived cache of users by id, so authenticating a request needs no SQL.

Entries live `USER_CACHE_SECONDS` and are forgotten after every committed change to the row
(`User.save`, and the services that use `QuerySet.update`), so a deactivation or a role change is
seen by the next request in every process. A cache outage only costs the database query.

An entry is the row's column values as one orjson array (`user_to_cache`), not a pickled model:
rebuilding the user from it (`user_from_cache`, as the ORM builds a fetched row) costs a few
microseconds on every authenticated request, and an entry written for another set of columns
(a deploy that changes the model) is ignored as a miss. Entries live under their own key, not
the one the pickled models had: processes of the previous release, still serving while a
deploy rolls out, read only their own entries (and would fail on these).
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import cache as once
from typing import TYPE_CHECKING, Any

import orjson
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, transaction

from config.outages import OutageLog

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)
CACHE_OUTAGE = OutageLog(logger, "user cache unavailable, users read from the database")

USER_CACHE_SECONDS = 60


def user_cache_key(user_id: str) -> str:
    """The cache key of a user's entry."""
    return f"user-row:{user_id}"


def _previous_release_key(user_id: str) -> str:
    """Where the previous release caches the user (a pickled model): forgotten too, so a change
    made here is seen at once by its processes while a deploy rolls out."""
    return f"user:{user_id}"


# Column types whose values JSON gives back as they were (datetimes: ISO 8601 text, parsed back).
_PLAIN_TYPES = frozenset(
    {
        "CharField",
        "TextField",
        "BooleanField",
        "IntegerField",
        "PositiveIntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "DateTimeField",
    }
)


@once
def _layout() -> tuple[str, tuple[str, ...], tuple[int, ...]]:
    """The entry's header (names the columns, so another layout is a miss), the columns in the
    model's order, and the positions of the datetime columns (stored as ISO 8601 text)."""
    from accounts.models import User

    fields = User._meta.concrete_fields
    unsupported = [f.attname for f in fields if f.get_internal_type() not in _PLAIN_TYPES]
    if unsupported:  # a date, decimal or JSON column would come back as another type
        raise TypeError(f"accounts.user_cache cannot store the user's {unsupported} yet")
    columns = tuple(field.attname for field in fields)
    datetimes = tuple(
        index for index, field in enumerate(fields) if field.get_internal_type() == "DateTimeField"
    )
    return "user:" + ",".join(columns), columns, datetimes


def user_to_cache(user: User) -> bytes:
    """The cache entry of `user`: its header, then its column values."""
    header, columns, _ = _layout()
    return orjson.dumps([header, *(getattr(user, column) for column in columns)])


def user_from_cache(entry: Any) -> User | None:
    """The user an entry holds, or None when `entry` is none (absent, another layout)."""
    from accounts.models import User

    if not isinstance(entry, bytes):
        return None
    header, columns, datetimes = _layout()
    try:
        values = orjson.loads(entry)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(values, list) or len(values) != len(columns) + 1 or values[0] != header:
        return None
    del values[0]
    for index in datetimes:
        if values[index] is not None:
            values[index] = datetime.fromisoformat(values[index])
    return User.from_db(DEFAULT_DB_ALIAS, columns, values)


def cached_user(user_id: str) -> User | None:
    """The cached user, or None when absent or the cache is down."""
    try:
        entry = cache.get(user_cache_key(user_id))
    except Exception as error:  # noqa: BLE001 - the database answers instead
        CACHE_OUTAGE.failed(error)
        return None
    CACHE_OUTAGE.recovered()
    return user_from_cache(entry)


def remember_user(user: User) -> None:
    """Cache `user` (as read from the database) for the next requests."""
    try:
        cache.set(user_cache_key(user.pk), user_to_cache(user), USER_CACHE_SECONDS)
    except Exception as error:  # noqa: BLE001 - caching is an optimisation only
        CACHE_OUTAGE.failed(error)


def forget_users(*user_ids: str) -> None:
    """Drop cached users now and again after the current transaction commits.

    The second delete covers a request that re-cached the old row before the commit.
    """

    def forget() -> None:
        try:
            cache.delete_many(
                [
                    key
                    for user_id in user_ids
                    for key in (user_cache_key(user_id), _previous_release_key(user_id))
                ]
            )
        except Exception as error:  # noqa: BLE001 - entries expire on their own
            CACHE_OUTAGE.failed(error)

    forget()
    transaction.on_commit(forget)
