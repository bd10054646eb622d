"""Usage metering: per-user, per-day counters kept in the cache and flushed to `UsageCounter`.

Recording (`usage_record`, or `usage_record_many` for several metrics at once) costs one cache
round trip and never fails the caller: when the cache is down the count is logged and dropped.
`usage_flush` (Celery beat, every minute) adds the cached counts to the database; `usage_cached`
reads the counts not flushed yet, so a summary is current without waiting for the flush.

With Redis (django-redis), one hash per (metric, day) holds a field per user:
- record: `MULTI; HINCRBY <metric>:<day> <user> <n>; EXPIRE …; EXEC` (one round trip, whatever
  the number of metrics counted together);
- flush: a Lua script atomically RENAMEs each live hash to a batch key and adds the batch's
  name to a pending set; increments that arrive afterwards start a fresh live hash. Each batch
  is then read (HGETALL) and added to the database in one transaction that also records the
  batch's name in `UsageFlushBatch`, and only then deleted from Redis. A batch left behind by
  a flush that stopped half-way is taken up by the next one; one already recorded is not
  added again. So no increment is lost or counted twice, however flushes and requests
  interleave, and overlapping flushes are safe.
- Every key expires (`COUNTER_TTL_SECONDS` after its last write), so a stopped flusher cannot
  grow Redis forever; counts older than that are lost.

Without Redis (the in-memory cache of development and tests: one process), the same hashes
are plain dicts in the cache, read and written under a process lock; a flush takes them out
under the lock, writes them to the database, and puts them back if that fails.

The database write is one multi-row `INSERT … ON CONFLICT (user_id, metric, day) DO UPDATE
SET value = value + excluded.value` (SQLite and PostgreSQL), atomic per row under concurrency.
Counts of users deleted in the meantime are dropped.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from config.outages import OutageLog
from config.redis_client import full_key, redis_client
from usage.models import UsageCounter, UsageFlushBatch

logger = logging.getLogger(__name__)
# While the cache is down, counts are dropped and summaries read only the database.
COUNTER_OUTAGE = OutageLog(logger, "usage counter unavailable, counts dropped")
SUMMARY_OUTAGE = OutageLog(logger, "usage counters unavailable, summary without cached counts")

METRICS = (
    "api_requests",
    "ai_requests",
    "ai_tokens",
    "file_uploads",
    "file_downloads",
    "emails_sent",
    "websocket_messages",
)

# A counter key lives this long after its last write when no flush takes it.
COUNTER_TTL_SECONDS = 3 * 86400
# Days before today whose counters may still be in the cache (the last write of a day is at
# most a day before the day after it, plus the TTL).
LOOKBACK_DAYS = COUNTER_TTL_SECONDS // 86400 + 1
# Recorded batches are kept well past the life of any batch key that could name them.
FLUSH_BATCH_RETENTION = timedelta(seconds=2 * COUNTER_TTL_SECONDS + 86400)

PENDING_KEY = "usage:pending"
BATCH_PREFIX = "usage:batch:"
# Rows per INSERT statement (5 parameters each).
UPSERT_CHUNK = 500

# KEYS: the pending set, then (live key, batch key) pairs; ARGV: the TTL, then one batch name
# per pair. Moves every live hash that exists to its batch key (keeping its TTL) and lists the
# batch in the pending set, atomically; returns the names of the batches made.
_TAKE_SCRIPT = """
local moved = {}
for i = 2, #ARGV do
  local live = KEYS[2 * i - 2]
  local batch = KEYS[2 * i - 1]
  if redis.call('EXISTS', live) == 1 then
    redis.call('RENAME', live, batch)
    redis.call('SADD', KEYS[1], ARGV[i])
    moved[#moved + 1] = ARGV[i]
  end
end
if #moved > 0 then
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
end
return moved
"""

_local_lock = threading.Lock()


def _today() -> date:
    return timezone.now().date()  # timezone.now() is in UTC (USE_TZ)


def _live_key(metric: str, day: date) -> str:
    return f"usage:{metric}:{day.isoformat()}"


def _window(since: date) -> list[date]:
    """The days from `since` to today whose counters may still be in the cache, newest first."""
    today = _today()
    first = max(since, today - timedelta(days=LOOKBACK_DAYS))
    return [today - timedelta(days=n) for n in range((today - first).days + 1)]


def _check(metric: str, amount: int) -> None:
    if metric not in METRICS:
        raise ValueError(f"Unknown usage metric {metric!r}")
    if amount < 0:
        raise ValueError("A usage amount cannot be negative")


def usage_record(*, user_id: str, metric: str, amount: int = 1) -> None:
    """Count `amount` of `metric` for the user today (cheap: a cache counter, flushed later).

    One cache round trip. A cache failure is logged and the count dropped, never raised.
    Raises ValueError for an unknown metric or a negative amount.
    """
    usage_record_many(user_id=user_id, amounts={metric: amount})


def usage_record_many(
    *,
    user_id: str,
    amounts: Mapping[str, int],
    along: Callable[[Any], None] | None = None,
) -> None:
    """Count several metrics for the user today (metric -> amount) in one cache round trip.

    With Redis, one transaction holds every count and the commands `along` queues on the same
    pipeline (the caller's own write, which then costs no round trip of its own); without
    Redis, `along` is not called and the caller writes its own way. A cache failure is logged
    and the counts (with `along`'s commands) dropped, never raised. Raises ValueError for an
    unknown metric or a negative amount, before anything is counted.
    """
    for metric, amount in amounts.items():
        _check(metric, amount)
    counted = {metric: amount for metric, amount in amounts.items() if amount}
    if not counted and along is None:
        return
    try:
        client = redis_client()
        if client is None:
            day = _today()
            for metric, amount in counted.items():
                _local_add(metric=metric, day=day, counts={user_id: amount})
            return
        pipe = client.pipeline(transaction=True)
        if along is not None:
            along(pipe)
        for metric, amount in counted.items():
            usage_record_along(pipe, user_id=user_id, metric=metric, amount=amount)
        pipe.execute()
    except Exception as error:  # noqa: BLE001 - a count is not worth failing a request
        COUNTER_OUTAGE.failed(error)


def usage_record_along(pipe: Any, *, user_id: str, metric: str, amount: int = 1) -> None:
    """Queue `usage_record`'s commands on a Redis pipeline another write sends anyway (the
    rate limit's), so the count costs no round trip of its own. The caller executes it."""
    _check(metric, amount)
    key = full_key(_live_key(metric, _today()))
    pipe.hincrby(key, user_id, amount)
    pipe.expire(key, COUNTER_TTL_SECONDS)


# --- Reading what is not flushed yet ----------------------------------------------------------


@dataclass
class CachedUsage:
    """A user's counts still in the cache: live counters and batches being flushed."""

    live: dict[str, int] = field(default_factory=dict)
    # batch name -> (metric, count)
    batches: dict[str, tuple[str, int]] = field(default_factory=dict)

    def totals(self) -> dict[str, int]:
        """Counts per metric, leaving out batches the database already holds.

        One query when there are batches in flight, none otherwise. Read it after the
        database's counters, so a batch added in between is not counted twice.
        """
        totals = dict(self.live)
        if self.batches:
            done = set(
                UsageFlushBatch.objects.filter(key__in=list(self.batches)).values_list(
                    "key", flat=True
                )
            )
            for name, (metric, count) in self.batches.items():
                if name not in done:
                    totals[metric] = totals.get(metric, 0) + count
        return totals


def usage_cached(*, user_id: str, since: date) -> CachedUsage:
    """The user's counts from `since` (a UTC day) to today that are still in the cache.

    At most two cache round trips and no query. A cache failure is logged and reads as
    nothing cached.
    """
    days = _window(since)
    try:
        client = redis_client()
        if client is None:
            return _local_cached(user_id=user_id, days=days)
        return _redis_cached(client, user_id=user_id, since=since, days=days)
    except Exception as error:  # noqa: BLE001 - the summary is served from the database alone
        SUMMARY_OUTAGE.failed(error)
        return CachedUsage()


def _redis_cached(client: Any, *, user_id: str, since: date, days: list[date]) -> CachedUsage:
    pairs = [(metric, day) for metric in METRICS for day in days]
    pipe = client.pipeline(transaction=True)
    pipe.smembers(full_key(PENDING_KEY))
    for metric, day in pairs:
        pipe.hget(full_key(_live_key(metric, day)), user_id)
    pending, *values = pipe.execute()
    result = CachedUsage()
    for (metric, _day), value in zip(pairs, values, strict=True):
        if value is not None:
            result.live[metric] = result.live.get(metric, 0) + int(value)
    wanted = []
    for raw in pending:
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        parsed = _parse_batch(name)
        if parsed is not None and parsed[1] >= since:
            wanted.append((name, parsed[0]))
    if wanted:
        pipe = client.pipeline(transaction=False)
        for name, _metric in wanted:
            pipe.hget(full_key(BATCH_PREFIX + name), user_id)
        for (name, metric), value in zip(wanted, pipe.execute(), strict=True):
            if value is not None:
                result.batches[name] = (metric, int(value))
    return result


def _parse_batch(name: str) -> tuple[str, date] | None:
    """`<metric>:<day>:<hex>` → (metric, day), or None for a name that is not one."""
    metric, _, rest = name.partition(":")
    day_text, _, _ = rest.partition(":")
    if metric not in METRICS:
        return None
    try:
        return metric, date.fromisoformat(day_text)
    except ValueError:
        return None


# --- Flushing -------------------------------------------------------------------------------


def usage_flush() -> int:
    """Add every cached count (today and the days before still cached) to `UsageCounter`.

    Returns how many (user, metric, day) counts were added. Safe to run concurrently with
    recording and with itself; a failure raises (the task retries) and loses nothing.
    """
    client = redis_client()
    added = _local_flush() if client is None else _redis_flush(client)
    UsageFlushBatch.objects.filter(created_at__lt=timezone.now() - FLUSH_BATCH_RETENTION).delete()
    return added


def _redis_flush(client: Any) -> int:
    pending_key = full_key(PENDING_KEY)
    keys, names = [pending_key], []
    for metric in METRICS:
        for day in _window(_today() - timedelta(days=LOOKBACK_DAYS)):
            name = f"{metric}:{day.isoformat()}:{uuid.uuid4().hex}"
            keys += [full_key(_live_key(metric, day)), full_key(BATCH_PREFIX + name)]
            names.append(name)
    client.register_script(_TAKE_SCRIPT)(keys=keys, args=[COUNTER_TTL_SECONDS + 86400, *names])
    added = 0
    # The batches just taken, and any a flush before this one left behind.
    for raw in client.smembers(pending_key):
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        batch_key = full_key(BATCH_PREFIX + name)
        parsed = _parse_batch(name)
        fields = client.hgetall(batch_key) if parsed is not None else {}
        if parsed is not None and fields:
            counts = {user.decode(): int(value) for user, value in fields.items()}
            added += _store_batch(name=name, metric=parsed[0], day=parsed[1], counts=counts)
        pipe = client.pipeline(transaction=True)
        pipe.delete(batch_key)
        pipe.srem(pending_key, name)
        pipe.execute()
    return added


def _store_batch(*, name: str, metric: str, day: date, counts: dict[str, int]) -> int:
    """Add one batch to the database once: 0 when it was already added (by an earlier flush)."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                UsageFlushBatch.objects.create(key=name)
        except IntegrityError:
            return 0
        return _upsert(metric=metric, day=day, counts=counts)


def _upsert(*, metric: str, day: date, counts: dict[str, int]) -> int:
    """Add `counts` (user id -> amount) to the users' counters of (metric, day); one INSERT
    per chunk of users, after one query for which of them still exist."""
    table = connection.ops.quote_name(UsageCounter._meta.db_table)
    day_value = connection.ops.adapt_datefield_value(day)
    now_value = connection.ops.adapt_datetimefield_value(timezone.now())
    # In one order everywhere: two flushes upserting the same users lock their rows in the same
    # order, so they wait for each other instead of deadlocking.
    user_ids = sorted(counts)
    added = 0
    for start in range(0, len(user_ids), UPSERT_CHUNK):
        chunk = user_ids[start : start + UPSERT_CHUNK]
        existing = set(get_user_model().objects.filter(pk__in=chunk).values_list("pk", flat=True))
        rows = [user_id for user_id in chunk if user_id in existing and counts[user_id] > 0]
        if not rows:
            continue
        params: list[Any] = []
        for user_id in rows:
            params += [user_id, metric, day_value, counts[user_id], now_value]
        values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
        # Only the model's table name and placeholders are formatted in; the values are params.
        sql = (
            f"INSERT INTO {table} (user_id, metric, day, value, updated_at) VALUES {values} "  # noqa: S608
            "ON CONFLICT (user_id, metric, day) DO UPDATE SET "
            f"value = {table}.value + excluded.value, updated_at = excluded.updated_at"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        added += len(rows)
    return added


# --- Without Redis: one process, counters in the local cache ------------------------------------


def _local_add(*, metric: str, day: date, counts: dict[str, int]) -> None:
    key = _live_key(metric, day)
    with _local_lock:
        current: dict[str, int] = cache.get(key) or {}
        for user_id, amount in counts.items():
            current[user_id] = current.get(user_id, 0) + amount
        cache.set(key, current, timeout=COUNTER_TTL_SECONDS)


def _local_cached(*, user_id: str, days: Iterable[date]) -> CachedUsage:
    keys = {_live_key(metric, day): metric for metric in METRICS for day in days}
    with _local_lock:
        found: dict[str, dict[str, int]] = cache.get_many(list(keys))
    result = CachedUsage()
    for key, counts in found.items():
        if user_id in counts:
            metric = keys[key]
            result.live[metric] = result.live.get(metric, 0) + counts[user_id]
    return result


def _local_flush() -> int:
    keys = [
        (metric, day)
        for metric in METRICS
        for day in _window(_today() - timedelta(days=LOOKBACK_DAYS))
    ]
    with _local_lock:
        taken: dict[str, dict[str, int]] = cache.get_many([_live_key(m, d) for m, d in keys])
        cache.delete_many(list(taken))
    added = 0
    for position, (metric, day) in enumerate(keys):
        counts = taken.get(_live_key(metric, day))
        if not counts:
            continue
        try:
            with transaction.atomic():
                added += _upsert(metric=metric, day=day, counts=counts)
        except Exception:
            # Put back what was not stored, for the next flush, then fail.
            for later_metric, later_day in keys[position:]:
                later = taken.get(_live_key(later_metric, later_day))
                if later:
                    _local_add(metric=later_metric, day=later_day, counts=later)
            raise
    return added
