"""The sockets open in this process, and the per-user cap over every process.

`WS_MAX_CONNECTIONS_PER_USER` counts sockets wherever they are open. With Redis, each user has a
sorted set of connection ids scored by when their process last vouched for them: a socket claims a
slot atomically (a Lua script: forget stale members, count, add), releases it when it closes, and
every process re-vouches for its open sockets once a minute in one pipeline. A process that dies
without releasing its slots frees them after `STALE_SECONDS`. Without Redis the count is the
process's own, which is every socket there is.

A Redis outage lets sockets in (as the HTTP rate limits do) and is logged once a minute.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.cache import cache

from config.observability import connection_id_var
from config.outages import OutageLog

if TYPE_CHECKING:
    from realtime.consumer import AppSocket

T = TypeVar("T")
logger = logging.getLogger(__name__)
SLOTS_OUTAGE = OutageLog(logger, "socket slots unavailable, connections not capped")

REFRESH_SECONDS = 60
STALE_SECONDS = 3 * REFRESH_SECONDS

# KEYS[1] the user's set; ARGV: now, stale before, cap, connection id, key lifetime.
_CLAIM = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

# The sockets of this process, by connection id: for the refresh, the gauge and shutdown.
open_sockets: dict[str, AppSocket] = {}
_local_slots: dict[str, set[str]] = defaultdict(set)


def _redis() -> Any | None:
    from django.core.cache import caches
    from django_redis import get_redis_connection
    from django_redis.cache import RedisCache

    if isinstance(caches["default"], RedisCache):
        return get_redis_connection("default")
    return None


def _slots_key(user_id: str) -> str:
    return str(cache.make_key(f"ws:conns:{user_id}"))


def slot_claim(*, user_id: str, connection_id: str) -> bool:
    """Take one of the user's socket slots; False when all are taken. Synchronous."""
    cap = settings.WS_MAX_CONNECTIONS_PER_USER
    client = _redis()
    if client is None:
        slots = _local_slots[user_id]
        if len(slots) >= cap:
            return False
        slots.add(connection_id)
        return True
    now = time.time()
    try:
        claimed = client.eval(
            _CLAIM,
            1,
            _slots_key(user_id),
            now,
            now - STALE_SECONDS,
            cap,
            connection_id,
            STALE_SECONDS,
        )
    except Exception as error:  # noqa: BLE001 - redis-py raises its own error types
        SLOTS_OUTAGE.failed(error)
        return True
    SLOTS_OUTAGE.recovered()
    return bool(claimed)


def slot_release(*, user_id: str, connection_id: str) -> None:
    """Give the slot back. Synchronous."""
    client = _redis()
    if client is None:
        slots = _local_slots.get(user_id)
        if slots is not None:
            slots.discard(connection_id)
            if not slots:
                del _local_slots[user_id]
        return
    try:
        client.zrem(_slots_key(user_id), connection_id)
    except Exception as error:  # noqa: BLE001 - the slot goes stale on its own
        SLOTS_OUTAGE.failed(error)


def slots_refresh() -> None:
    """Vouch for every socket open in this process (one pipeline). Synchronous."""
    client = _redis()
    if client is None or not open_sockets:
        return
    now = time.time()
    by_user: dict[str, dict[str, float]] = defaultdict(dict)
    for connection_id, socket in list(open_sockets.items()):
        by_user[socket.user_id][connection_id] = now
    try:
        pipe = client.pipeline(transaction=False)
        for user_id, members in by_user.items():  # two commands per user, not per socket
            key = _slots_key(user_id)
            pipe.zadd(key, members)
            pipe.expire(key, STALE_SECONDS)
        pipe.execute()
    except Exception as error:  # noqa: BLE001 - retried at the next refresh
        SLOTS_OUTAGE.failed(error)


# The context every thread hop of the sockets runs in. Django keeps a cache client per context
# (a django-redis client holding a redis client, about 13 KiB), so a hop in the socket's own
# context would leave one to each socket for as long as it is open.
_HOP_CONTEXT = contextvars.copy_context()


async def in_thread(func: Callable[..., T], /, **kwargs: Any) -> T:
    """`func(**kwargs)` in a worker thread (database connections closed around it, not serialized
    with other sockets' work), in the context shared by all sockets' hops, with the caller's
    connection id for its log lines."""
    connection_id = connection_id_var.get()

    async def hop() -> T:
        connection_id_var.set(connection_id)
        call = database_sync_to_async(func, thread_sensitive=False)
        return cast(T, await call(**kwargs))

    return await asyncio.create_task(hop(), context=_HOP_CONTEXT)


async def aslots_refresh() -> None:
    """`slots_refresh` from the event loop (in a worker thread); every REFRESH_SECONDS."""
    await in_thread(slots_refresh)


async def close_all(*, code: int) -> int:
    """Close every socket of this process with `code` (1001 at shutdown); how many there were."""
    sockets = list(open_sockets.values())
    closing = (socket.close_with(code, "server shutting down") for socket in sockets)
    await asyncio.gather(*closing, return_exceptions=True)
    return len(sockets)
