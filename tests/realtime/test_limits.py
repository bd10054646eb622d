"""The limits of API.md §9: frames per socket (WS_RATE_LIMIT), frame size (64 KiB), sockets per
user (WS_MAX_CONNECTIONS_PER_USER, over every process with Redis) and subscriptions per socket."""

from __future__ import annotations

import time

import orjson
import pytest
from django.core.cache import cache
from django_redis import get_redis_connection
from prometheus_client import REGISTRY

from realtime import channels, connections, publish
from tests.realtime.conftest import (
    connected,
    error_code,
    needs_redis,
    refused,
    run,
    socket,
    without_redis,
)

pytestmark = pytest.mark.django_db

MAX_FRAME = 64 * 1024


def padded(frame: dict, size: int) -> str:
    """`frame` as JSON text of exactly `size` bytes (a `pad` field makes up the rest)."""
    empty = orjson.dumps({**frame, "pad": ""})
    text = orjson.dumps({**frame, "pad": "x" * (size - len(empty))}).decode()
    assert len(text.encode()) == size
    return text


# --- Frame rate -------------------------------------------------------------------------------


def closes(code: int) -> float:
    return REGISTRY.get_sample_value("groundwork_ws_closes_total", {"code": str(code)}) or 0.0


def test_frames_over_the_rate_are_refused_then_the_socket_is_closed(user, settings):
    settings.WS_RATE_LIMIT = "3/10s"
    closed_before = closes(4429)

    async def scenario():
        sock = socket(user=user)
        await connected(sock)
        for n in range(3):
            assert await sock.ask({"type": "ping", "id": n}) == {"type": "pong", "id": n}
        for _ in range(3):
            reply = await sock.ask({"type": "ping", "id": "over"})
            assert error_code(reply) == "RATE_LIMIT_EXCEEDED"
            assert 1 <= reply["error"]["details"]["retry_after"] <= 10
        await sock.send_frame({"type": "ping"})
        assert await sock.ended_with() == 4429

    run(scenario)
    assert closes(4429) == closed_before + 1


def test_refused_frames_are_not_handled(user, other_user, settings):
    settings.WS_RATE_LIMIT = "2/10s"
    own = f"user:{user.pk}"

    async def scenario():
        sender, peer = socket(user=user), socket(user=user)
        await connected(sender)
        await connected(peer)
        await sender.send_frame({"type": "message", "channel": own, "data": {"n": 1}})
        await sender.send_frame({"type": "message", "channel": own, "data": {"n": 2}})
        assert [(await peer.frame())["data"]["n"] for _ in range(2)] == [1, 2]
        await sender.send_frame({"type": "message", "channel": own, "data": {"n": 3}})
        assert error_code(await sender.frame()) == "RATE_LIMIT_EXCEEDED"
        publish(channel=own, event="notification", data={"title": "after", "body": ""})
        # The refused message never reached the peer: the event is next.
        assert (await peer.frame())["type"] == "event"
        await sender.disconnect()
        await peer.disconnect()

    run(scenario)


def test_the_budget_is_per_socket(user, settings):
    settings.WS_RATE_LIMIT = "2/10s"

    async def scenario():
        first, second = socket(user=user), socket(user=user)
        await connected(first)
        await connected(second)
        for _ in range(2):
            await first.ask({"type": "ping"})
        assert error_code(await first.ask({"type": "ping"})) == "RATE_LIMIT_EXCEEDED"
        assert await second.ask({"type": "ping"}) == {"type": "pong"}
        await first.disconnect()
        await second.disconnect()

    run(scenario)


# --- Frame size -------------------------------------------------------------------------------


def test_a_frame_of_exactly_64_kib_is_handled(user):
    async def scenario():
        sock = socket(user=user)
        await connected(sock)
        await sock.send_to(text_data=padded({"type": "ping", "id": 1}, MAX_FRAME))
        assert await sock.frame() == {"type": "pong", "id": 1}
        await sock.disconnect()

    run(scenario)


def test_a_bigger_frame_closes_the_socket_with_4009_and_is_not_handled(user):
    own = f"user:{user.pk}"

    async def scenario():
        sender, peer = socket(user=user), socket(user=user)
        await connected(sender)
        await connected(peer)
        frame = {"type": "message", "channel": own, "data": {"big": True}}
        await sender.send_to(text_data=padded(frame, MAX_FRAME + 1))
        assert await sender.ended_with() == 4009
        publish(channel=own, event="notification", data={"title": "after", "body": ""})
        assert (await peer.frame())["type"] == "event"
        await peer.disconnect()

    run(scenario)


def test_a_big_binary_frame_closes_the_socket_with_4009(user):
    async def scenario():
        sock = socket(user=user)
        await connected(sock)
        await sock.send_to(bytes_data=b"x" * (MAX_FRAME + 1))
        assert await sock.ended_with() == 4009

    run(scenario)


def test_size_counts_bytes_not_characters(user):
    async def scenario():
        sock = socket(user=user)
        await connected(sock)
        # Fewer than 64 Ki characters, more than 64 KiB in UTF-8.
        text = orjson.dumps({"type": "ping", "pad": "é" * (MAX_FRAME // 2 + 10)}).decode()
        assert len(text) < MAX_FRAME < len(text.encode())
        await sock.send_to(text_data=text)
        assert await sock.ended_with() == 4009

    run(scenario)


# --- Sockets per user -------------------------------------------------------------------------


def test_a_user_has_at_most_the_configured_sockets(user, other_user, settings):
    """Counted in this process without Redis, in Redis with it (the same test in both)."""
    settings.WS_MAX_CONNECTIONS_PER_USER = 2

    async def scenario():
        first, second = socket(user=user), socket(user=user)
        await connected(first)
        await connected(second)
        assert await refused(socket(user=user)) == 4429
        # Another user has slots of their own.
        theirs = socket(user=other_user)
        await connected(theirs)
        # Closing one frees a slot.
        await first.disconnect()
        third = socket(user=user)
        await connected(third)
        assert await refused(socket(user=user)) == 4429
        for sock in (second, third, theirs):
            await sock.disconnect()

    run(scenario)


def test_a_socket_closed_by_the_server_frees_its_slot(user, settings):
    settings.WS_MAX_CONNECTIONS_PER_USER = 1

    async def scenario():
        sock = socket(user=user)
        await connected(sock)
        await sock.send_to(bytes_data=b"x" * (MAX_FRAME + 1))
        assert await sock.ended_with() == 4009
        again = socket(user=user)
        await connected(again)
        await again.disconnect()

    run(scenario)


def test_the_cap_applies_to_tickets_too(api, user, settings):
    settings.WS_MAX_CONNECTIONS_PER_USER = 1
    ticket = api.as_user(user).post("/api/v1/app/ws/ticket").json()["ticket"]

    async def scenario():
        sock = socket(user=user)
        await connected(sock)
        assert await refused(socket(query=f"ticket={ticket}")) == 4429
        await sock.disconnect()

    run(scenario)


def slots_key(user) -> str:
    return str(cache.make_key(f"ws:conns:{user.pk}"))


@needs_redis
def test_slots_are_kept_in_redis_for_every_process(user, other_user, settings):
    settings.WS_MAX_CONNECTIONS_PER_USER = 2
    redis = get_redis_connection("default")

    async def scenario():
        sock = socket(user=user)
        connection_id = (await connected(sock))["data"]["connection_id"]
        assert redis.zrange(slots_key(user), 0, -1) == [connection_id.encode()]
        # A socket of this user open in another process holds the other slot.
        redis.zadd(slots_key(user), {"elsewhere": time.time()})
        assert await refused(socket(user=user)) == 4429
        await sock.disconnect()
        assert redis.zrange(slots_key(user), 0, -1) == [b"elsewhere"]
        again = socket(user=user)
        await connected(again)
        await again.disconnect()

    run(scenario)


@needs_redis
def test_slots_of_a_process_that_died_are_freed(user, settings):
    settings.WS_MAX_CONNECTIONS_PER_USER = 1
    redis = get_redis_connection("default")
    # Last vouched for four minutes ago: its process stopped refreshing it.
    redis.zadd(slots_key(user), {"dead-process-socket": time.time() - 240})

    async def scenario():
        sock = socket(user=user)
        await connected(sock)
        await sock.disconnect()

    run(scenario)
    assert redis.zcard(slots_key(user)) == 0


@without_redis
def test_without_redis_slots_are_the_processs_own(user, settings):
    settings.WS_MAX_CONNECTIONS_PER_USER = 2

    async def scenario():
        sock = socket(user=user)
        connection_id = (await connected(sock))["data"]["connection_id"]
        assert connections._local_slots[user.pk] == {connection_id}
        await sock.disconnect()
        assert user.pk not in connections._local_slots

    run(scenario)


# --- Subscriptions per socket -----------------------------------------------------------------


@pytest.fixture
def open_channels():
    """`thing:<id>` channels anyone may read."""
    unregister = channels.register("thing", authorize=lambda user, object_id: True)
    yield
    unregister()


def test_subscriptions_over_the_cap_are_a_quota_error(user, settings, open_channels):
    settings.WS_MAX_SUBSCRIPTIONS = 2  # the own user channel and one more

    async def scenario():
        sock = socket(user=user)
        await connected(sock)
        subscribed = {"type": "subscribed", "channel": "thing:1"}
        assert await sock.ask({"type": "subscribe", "channel": "thing:1"}) == subscribed
        reply = await sock.ask({"type": "subscribe", "channel": "thing:2", "id": "q"})
        assert error_code(reply) == "QUOTA_EXCEEDED" and reply["id"] == "q"
        assert reply["error"]["details"]["max"] == 2
        # A channel subscribed already is still answered.
        assert await sock.ask({"type": "subscribe", "channel": "thing:1"}) == subscribed
        # Unsubscribing makes room.
        await sock.ask({"type": "unsubscribe", "channel": "thing:1"})
        reply = await sock.ask({"type": "subscribe", "channel": "thing:2"})
        assert reply == {"type": "subscribed", "channel": "thing:2"}
        await sock.disconnect()

    run(scenario)
