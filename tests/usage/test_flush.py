"""The flush of the cache counters into UsageCounter: nothing lost, nothing counted twice."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from tests.factories import UserFactory
from tests.usage.conftest import flush, metrics, needs_redis
from usage import services as usage
from usage.models import UsageCounter, UsageFlushBatch
from usage.services import COUNTER_TTL_SECONDS, usage_record

pytestmark = pytest.mark.django_db


def stored(user, metric: str) -> int:
    return sum(
        UsageCounter.objects.filter(user=user, metric=metric).values_list("value", flat=True)
    )


def test_the_flush_stores_each_user_metric_and_day_in_one_row(user, other_user):
    usage_record(user_id=user.pk, metric="ai_tokens", amount=10)
    usage_record(user_id=user.pk, metric="ai_tokens", amount=5)
    usage_record(user_id=other_user.pk, metric="ai_tokens", amount=1)
    usage_record(user_id=user.pk, metric="emails_sent")

    assert flush() == 3
    assert flush() == 0

    rows = {(row.user_id, row.metric, row.day, row.value) for row in UsageCounter.objects.all()}
    today = timezone.now().date()
    assert rows == {
        (user.pk, "ai_tokens", today, 15),
        (other_user.pk, "ai_tokens", today, 1),
        (user.pk, "emails_sent", today, 1),
    }


def test_the_flush_takes_the_previous_days_still_cached(api, user, monkeypatch):
    yesterday = timezone.now().date() - timedelta(days=1)
    monkeypatch.setattr(usage, "_today", lambda: yesterday)
    usage_record(user_id=user.pk, metric="ai_requests", amount=4)
    monkeypatch.undo()
    usage_record(user_id=user.pk, metric="ai_requests", amount=1)

    assert metrics(api.as_user(user), days=2)["ai_requests"] == 5
    assert metrics(api.as_user(user), days=1)["ai_requests"] == 1
    flush()

    days = dict(UsageCounter.objects.filter(metric="ai_requests").values_list("day", "value"))
    assert days == {yesterday: 4, yesterday + timedelta(days=1): 1}
    assert metrics(api.as_user(user), days=2)["ai_requests"] == 5


def test_counts_of_a_deleted_user_are_dropped(user, other_user):
    usage_record(user_id=user.pk, metric="ai_tokens", amount=3)
    usage_record(user_id=other_user.pk, metric="ai_tokens", amount=4)
    other_user.delete()

    assert flush() == 1
    assert list(UsageCounter.objects.values_list("value", flat=True)) == [3]


def test_a_failed_flush_loses_nothing(api, user, monkeypatch):
    usage_record(user_id=user.pk, metric="ai_tokens", amount=8)
    original = usage._upsert

    def failing(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(usage, "_upsert", failing)
    with pytest.raises(RuntimeError):
        usage.usage_flush()
    assert metrics(api.as_user(user))["ai_tokens"] == 8

    monkeypatch.setattr(usage, "_upsert", original)
    usage.usage_flush()
    assert stored(user, "ai_tokens") == 8
    assert metrics(api.as_user(user))["ai_tokens"] == 8


def test_old_batch_records_are_cleaned_up(user):
    UsageFlushBatch.objects.create(key="old", created_at=timezone.now() - timedelta(days=30))
    UsageFlushBatch.objects.create(key="recent")

    usage.usage_flush()

    assert list(UsageFlushBatch.objects.values_list("key", flat=True)) == ["recent"]


def test_amounts_are_checked(user):
    with pytest.raises(ValueError, match="Unknown usage metric"):
        usage_record(user_id=user.pk, metric="page_views")
    with pytest.raises(ValueError, match="negative"):
        usage_record(user_id=user.pk, metric="ai_tokens", amount=-1)
    usage_record(user_id=user.pk, metric="ai_tokens", amount=0)

    assert flush() == 0


# --- Redis ------------------------------------------------------------------------------------


@needs_redis
def test_counter_keys_expire(user):
    from django_redis import get_redis_connection

    usage_record(user_id=user.pk, metric="ai_requests")

    redis = get_redis_connection("default")
    key = cache.make_key(f"usage:ai_requests:{timezone.now().date().isoformat()}")
    assert 0 < redis.ttl(key) <= COUNTER_TTL_SECONDS


@needs_redis
def test_recording_is_one_round_trip(user, monkeypatch):
    from django_redis import get_redis_connection
    from redis.client import Pipeline, Redis

    get_redis_connection("default")  # connected before counting
    trips: list[str] = []
    execute, command = Pipeline.execute, Redis.execute_command

    def counted_execute(self, *args, **kwargs):
        trips.append("pipeline")
        return execute(self, *args, **kwargs)

    def counted_command(self, *args, **kwargs):
        trips.append(str(args[0]))
        return command(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "execute", counted_execute)
    monkeypatch.setattr(Redis, "execute_command", counted_command)
    usage_record(user_id=user.pk, metric="api_requests")
    monkeypatch.undo()

    assert trips == ["pipeline"]


@needs_redis
def test_a_flush_that_stopped_after_its_commit_does_not_count_twice(api, user, monkeypatch):
    usage_record(user_id=user.pk, metric="ai_tokens", amount=6)
    original = usage._store_batch

    def commit_then_stop(**kwargs):
        original(**kwargs)
        raise RuntimeError("worker killed before removing the batch")

    monkeypatch.setattr(usage, "_store_batch", commit_then_stop)
    with pytest.raises(RuntimeError):
        usage.usage_flush()
    monkeypatch.setattr(usage, "_store_batch", original)

    assert stored(user, "ai_tokens") == 6
    assert metrics(api.as_user(user))["ai_tokens"] == 6  # the leftover batch is known flushed
    usage_record(user_id=user.pk, metric="ai_tokens", amount=1)
    usage.usage_flush()
    assert stored(user, "ai_tokens") == 7
    assert metrics(api.as_user(user))["ai_tokens"] == 7


@needs_redis
def test_a_batch_being_flushed_still_shows_in_the_summary(api, user, monkeypatch):
    usage_record(user_id=user.pk, metric="ai_tokens", amount=9)

    def stop(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(usage, "_store_batch", stop)
    with pytest.raises(RuntimeError):
        usage.usage_flush()
    usage_record(user_id=user.pk, metric="ai_tokens", amount=1)  # a fresh live counter
    monkeypatch.undo()

    assert metrics(api.as_user(user))["ai_tokens"] == 10
    usage.usage_flush()
    assert stored(user, "ai_tokens") == 10


@needs_redis
def test_a_flush_concurrent_with_recording_loses_nothing(user):
    users = [user, *UserFactory.create_batch(3)]
    per_thread, threads_count = 400, 4
    start = threading.Barrier(threads_count + 1)

    def record(index: int) -> None:
        start.wait()
        for n in range(per_thread):
            usage_record(user_id=users[(index + n) % len(users)].pk, metric="api_requests")

    threads = [threading.Thread(target=record, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    start.wait()
    flushes = 0
    while any(thread.is_alive() for thread in threads):
        usage.usage_flush()
        flushes += 1
    for thread in threads:
        thread.join()
    usage.usage_flush()

    total = sum(UsageCounter.objects.filter(metric="api_requests").values_list("value", flat=True))
    assert total == per_thread * threads_count
    assert flushes >= 2  # flushes ran while the threads were counting


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_overlapping_flushes_count_each_increment_once():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite runs one writer at a time")
    users = UserFactory.create_batch(3)
    per_thread = 300
    recording = threading.Event()
    errors: list[Exception] = []

    def record(index: int) -> None:
        for n in range(per_thread):
            usage_record(user_id=users[(index + n) % len(users)].pk, metric="ai_tokens", amount=2)

    def flush_repeatedly() -> None:
        try:
            while recording.is_set():
                usage.usage_flush()
        except Exception as exc:  # noqa: BLE001  (reported by the main thread)
            errors.append(exc)
        finally:
            connection.close()

    recording.set()
    flushers = [threading.Thread(target=flush_repeatedly) for _ in range(2)]
    recorders = [threading.Thread(target=record, args=(i,)) for i in range(3)]
    for thread in flushers + recorders:
        thread.start()
    for thread in recorders:
        thread.join()
    recording.clear()
    for thread in flushers:
        thread.join()
    usage.usage_flush()

    assert errors == []
    total = sum(UsageCounter.objects.filter(metric="ai_tokens").values_list("value", flat=True))
    assert total == 2 * per_thread * 3


def test_several_metrics_are_counted_together(api, user):
    usage.usage_record_many(user_id=user.pk, amounts={"ai_requests": 1, "ai_tokens": 7})
    usage.usage_record_many(user_id=user.pk, amounts={"ai_requests": 1, "ai_tokens": 0})

    assert flush() == 2  # (user, metric, day) counts: a zero amount is not counted
    counted = metrics(api.as_user(user))
    assert (counted["ai_requests"], counted["ai_tokens"]) == (2, 7)


def test_an_unknown_metric_among_several_counts_none_of_them(user):
    with pytest.raises(ValueError, match="Unknown usage metric"):
        usage.usage_record_many(user_id=user.pk, amounts={"ai_requests": 1, "ai_tokenz": 7})

    assert flush() == 0
