"""The frames of API.md §9 on an open socket: ping, subscribe, unsubscribe, message, the error
frames, server events from `publish(...)`, and sockets closed when their user is deactivated."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from accounts.services import user_deactivate, users_set_active
from realtime import metering, publish
from tests.factories import ProjectFactory
from tests.realtime.conftest import Socket, connected, error_code, refused, run, socket
from tests.usage.conftest import metrics

pytestmark = pytest.mark.django_db

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


async def opened(user: Any) -> Socket:
    sock = socket(user=user)
    await connected(sock)
    return sock


# --- ping -------------------------------------------------------------------------------------


def test_ping_is_answered_with_pong(user):
    async def scenario():
        sock = await opened(user)
        assert await sock.ask({"type": "ping"}) == {"type": "pong"}
        assert await sock.ask({"type": "ping", "id": 7}) == {"type": "pong", "id": 7}
        assert await sock.ask({"type": "ping", "id": "a-1"}) == {"type": "pong", "id": "a-1"}
        await sock.disconnect()

    run(scenario)


# --- subscribe and unsubscribe ----------------------------------------------------------------


def test_a_user_subscribes_to_an_own_project(user, project_channels):
    project = ProjectFactory(owner=user)
    channel = f"project:{project.pk}"

    async def scenario():
        sock = await opened(user)
        reply = await sock.ask({"type": "subscribe", "channel": channel, "id": 1})
        assert reply == {"type": "subscribed", "channel": channel, "id": 1}
        # Subscribing again is harmless.
        assert await sock.ask({"type": "subscribe", "channel": channel}) == {
            "type": "subscribed",
            "channel": channel,
        }
        publish(channel=channel, event="project.updated", data={"id": project.pk})
        event = await sock.frame()
        assert (event["event"], event["channel"]) == ("project.updated", channel)
        await sock.disconnect()

    run(scenario)


def test_another_users_project_is_not_found_and_the_socket_stays_open(
    user, other_user, project_channels
):
    foreign = ProjectFactory(owner=other_user)
    deleted = ProjectFactory(owner=user)
    deleted.delete()

    async def scenario():
        sock = await opened(user)
        for channel in (f"project:{foreign.pk}", f"project:{deleted.pk}", "project:999999999"):
            reply = await sock.ask({"type": "subscribe", "channel": channel, "id": "s"})
            assert reply["type"] == "error" and reply["id"] == "s", reply
            assert reply["error"]["code"] == "NOT_FOUND"
            assert reply["error"]["details"]["id"] == channel
        assert await sock.ask({"type": "ping"}) == {"type": "pong"}
        await sock.disconnect()

    run(scenario)


@pytest.mark.parametrize("channel", ["nothing:1", "project:not-a-number", "user:someone-else"])
def test_a_channel_the_user_may_not_read_is_not_found(user, project_channels, channel):
    async def scenario():
        sock = await opened(user)
        assert error_code(await sock.ask({"type": "subscribe", "channel": channel})) == "NOT_FOUND"
        await sock.disconnect()

    run(scenario)


def test_another_users_channel_is_not_found(user, other_user):
    async def scenario():
        sock = await opened(user)
        reply = await sock.ask({"type": "subscribe", "channel": f"user:{other_user.pk}"})
        assert error_code(reply) == "NOT_FOUND"
        reply = await sock.ask(
            {"type": "message", "channel": f"user:{other_user.pk}", "data": {"hi": 1}}
        )
        assert error_code(reply) == "NOT_FOUND"
        await sock.disconnect()

    run(scenario)


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "subscribe"},
        {"type": "subscribe", "channel": None},
        {"type": "subscribe", "channel": 5},
        {"type": "subscribe", "channel": "no-kind"},
        {"type": "subscribe", "channel": "project:"},
        {"type": "subscribe", "channel": "Project:1"},
        {"type": "subscribe", "channel": "project:1:2"},
        {"type": "subscribe", "channel": "project:" + "1" * 300},
        {"type": "unsubscribe"},
        {"type": "unsubscribe", "channel": ["project:1"]},
        {"type": "message", "data": {"a": 1}},
        {"type": "message", "channel": "user:x"},
        {"type": "message", "channel": "user:x", "data": "text"},
    ],
)
def test_missing_or_malformed_fields_are_a_validation_error(user, frame):
    async def scenario():
        sock = await opened(user)
        reply = await sock.ask({**frame, "id": 3})
        assert error_code(reply) == "VALIDATION_ERROR"
        assert reply["id"] == 3
        assert reply["error"]["details"]["field"] in {"channel", "data"}
        assert await sock.ask({"type": "ping"}) == {"type": "pong"}
        await sock.disconnect()

    run(scenario)


def test_after_unsubscribing_no_more_events_arrive(user, project_channels):
    project = ProjectFactory(owner=user)
    channel = f"project:{project.pk}"
    own = f"user:{user.pk}"

    async def scenario():
        sock = await opened(user)
        await sock.ask({"type": "subscribe", "channel": channel})
        reply = await sock.ask({"type": "unsubscribe", "channel": channel, "id": 9})
        assert reply == {"type": "unsubscribed", "channel": channel, "id": 9}
        publish(channel=channel, event="project.updated", data={"id": project.pk})
        publish(channel=own, event="notification", data={"title": "after", "body": ""})
        # Delivered in order: the project's event would have come first.
        event = await sock.frame()
        assert (event["channel"], event["data"]["title"]) == (own, "after")
        assert await sock.receive_nothing(timeout=0.05)
        await sock.disconnect()

    run(scenario)


def test_unsubscribing_from_a_channel_not_subscribed_is_answered(user):
    async def scenario():
        sock = await opened(user)
        reply = await sock.ask({"type": "unsubscribe", "channel": "project:1"})
        assert reply == {"type": "unsubscribed", "channel": "project:1"}
        await sock.disconnect()

    run(scenario)


def test_a_socket_stays_on_its_own_user_channel(user):
    own = f"user:{user.pk}"

    async def scenario():
        sock = await opened(user)
        reply = await sock.ask({"type": "unsubscribe", "channel": own, "id": 4})
        assert error_code(reply) == "VALIDATION_ERROR" and reply["id"] == 4
        publish(channel=own, event="notification", data={"title": "still here", "body": ""})
        assert (await sock.frame())["data"]["title"] == "still here"
        await sock.disconnect()

    run(scenario)


# --- message ----------------------------------------------------------------------------------


def test_a_message_reaches_every_other_socket_on_the_channel(user, other_user, project_channels):
    project = ProjectFactory(owner=user)
    channel = f"project:{project.pk}"

    async def scenario():
        sender, peer, not_subscribed = await opened(user), await opened(user), await opened(user)
        stranger = await opened(other_user)
        for sock in (sender, peer):
            await sock.ask({"type": "subscribe", "channel": channel})
        await sender.send_frame({"type": "message", "channel": channel, "data": {"x": [1, "a"]}})
        assert await peer.frame() == {
            "type": "message",
            "channel": channel,
            "data": {"x": [1, "a"]},
            "from_user_id": user.pk,
        }
        # The sender gets no copy: the next thing on the channel for it is this event.
        publish(channel=channel, event="notification", data={"title": "after", "body": ""})
        assert (await sender.frame())["type"] == "event"
        assert (await peer.frame())["type"] == "event"
        assert await not_subscribed.receive_nothing(timeout=0.05)
        assert await stranger.receive_nothing(timeout=0.01)
        for sock in (sender, peer, not_subscribed, stranger):
            await sock.disconnect()

    run(scenario)


def test_a_message_on_the_own_user_channel_reaches_the_users_other_sockets(user):
    own = f"user:{user.pk}"

    async def scenario():
        phone, laptop = await opened(user), await opened(user)
        await phone.send_frame({"type": "message", "channel": own, "data": {"typing": True}})
        received = await laptop.frame()
        assert received["type"] == "message" and received["from_user_id"] == user.pk
        await phone.disconnect()
        await laptop.disconnect()

    run(scenario)


# --- errors -----------------------------------------------------------------------------------


def test_an_unknown_type_is_an_unknown_event(user):
    async def scenario():
        sock = await opened(user)
        reply = await sock.ask({"type": "dance", "id": "u1"})
        assert reply["type"] == "error" and reply["id"] == "u1"
        assert reply["error"]["code"] == "UNKNOWN_EVENT"
        assert await sock.ask({"type": "ping"}) == {"type": "pong"}
        await sock.disconnect()

    run(scenario)


@pytest.mark.parametrize("text", ["{nope", "", "pong", '{"type": "ping"'])
def test_text_that_is_not_json_is_invalid_json(user, text):
    async def scenario():
        sock = await opened(user)
        await sock.send_input({"type": "websocket.receive", "text": text})
        reply = await sock.frame()
        assert error_code(reply) == "INVALID_JSON" and "id" not in reply
        assert await sock.ask({"type": "ping"}) == {"type": "pong"}
        await sock.disconnect()

    run(scenario)


def test_a_binary_frame_is_invalid_json(user):
    async def scenario():
        sock = await opened(user)
        await sock.send_to(bytes_data=b'{"type": "ping"}')
        assert error_code(await sock.frame()) == "INVALID_JSON"
        await sock.disconnect()

    run(scenario)


@pytest.mark.parametrize(
    "frame", [[], ["ping"], "ping", 5, None, {}, {"type": 5}, {"type": None, "id": 2}]
)
def test_a_frame_that_is_not_an_object_with_a_type_is_a_validation_error(user, frame):
    async def scenario():
        sock = await opened(user)
        reply = await sock.ask(frame)
        assert error_code(reply) == "VALIDATION_ERROR", reply
        assert reply["error"]["details"]["field"] == "type"
        if isinstance(frame, dict) and "id" in frame:
            assert reply["id"] == frame["id"]
        await sock.disconnect()

    run(scenario)


def test_only_a_string_or_number_id_is_echoed(user):
    async def scenario():
        sock = await opened(user)
        for frame_id in (True, {"a": 1}, [1], None, 1.5):
            assert await sock.ask({"type": "ping", "id": frame_id}) == {"type": "pong"}
        await sock.disconnect()

    run(scenario)


# --- events -----------------------------------------------------------------------------------


def test_a_published_event_reaches_every_socket_on_the_channel_as_one_frame_shape(user, other_user):
    own = f"user:{user.pk}"

    async def scenario():
        phone, laptop = await opened(user), await opened(user)
        stranger = await opened(other_user)
        publish(channel=own, event="notification", data={"title": "Hi", "body": "There"})
        for sock in (phone, laptop):
            event = await sock.frame()
            assert set(event) == {"type", "event", "channel", "data", "timestamp"}
            assert event["type"] == "event"
            assert event["event"] == "notification"
            assert event["channel"] == own
            assert event["data"] == {"title": "Hi", "body": "There"}
            assert TIMESTAMP.fullmatch(event["timestamp"]), event["timestamp"]
        assert await stranger.receive_nothing(timeout=0.05)
        for sock in (phone, laptop, stranger):
            await sock.disconnect()

    run(scenario)


def test_an_event_published_from_a_thread_reaches_the_socket(user):
    own = f"user:{user.pk}"

    def from_a_service() -> None:
        publish(channel=own, event="billing.updated", data={"plan": "pro"})

    async def scenario():
        sock = await opened(user)
        await sync_to_async(from_a_service)()
        event = await sock.frame()
        assert (event["event"], event["data"]) == ("billing.updated", {"plan": "pro"})
        await sock.disconnect()

    run(scenario)


# --- deactivation -----------------------------------------------------------------------------


def test_deactivating_a_user_closes_their_sockets_with_4403(
    user, other_user, django_capture_on_commit_callbacks, caplog
):
    def deactivate() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            user_deactivate(user=user)

    async def scenario():
        phone, laptop = await opened(user), await opened(user)
        stranger = await opened(other_user)
        await sync_to_async(deactivate)()
        assert await phone.ended_with() == 4403
        assert await laptop.ended_with() == 4403
        assert await stranger.ask({"type": "ping"}) == {"type": "pong"}
        await stranger.disconnect()
        assert await refused(socket(user=user)) == 4403

    with caplog.at_level(logging.INFO, logger="realtime"):
        run(scenario)
    # The erasure that follows closes the sockets again; each socket logs its close once.
    closes = [r for r in caplog.records if r.getMessage().startswith("websocket closed by")]
    assert len(closes) == 2


def test_staff_deactivating_users_closes_their_sockets_with_4403(
    user, other_user, staff, django_capture_on_commit_callbacks
):
    def deactivate() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            users_set_active(users=[user], active=False, acting_user=staff)

    async def scenario():
        sock = await opened(user)
        stranger = await opened(other_user)
        await sync_to_async(deactivate)()
        assert await sock.ended_with() == 4403
        assert await stranger.ask({"type": "ping"}) == {"type": "pong"}
        await stranger.disconnect()

    run(scenario)


# --- usage ------------------------------------------------------------------------------------


def test_frames_are_counted_as_websocket_messages(api, user, other_user):
    own = f"user:{user.pk}"
    before = metrics(api.as_user(user))["websocket_messages"]
    stranger_before = metrics(api.as_user(other_user))["websocket_messages"]

    async def scenario():
        sock = await opened(user)
        for _ in range(3):
            await sock.ask({"type": "ping"})
        publish(channel=own, event="notification", data={"title": "1", "body": ""})
        await sock.frame()
        await sock.disconnect()
        await metering.aflush()

    run(scenario)
    # Three frames the client sent, one event it received.
    assert metrics(api.as_user(user))["websocket_messages"] == before + 4
    assert metrics(api.as_user(other_user))["websocket_messages"] == stranger_before


def test_a_project_deleted_since_is_not_found_when_subscribed_again(user, project_channels):
    project = ProjectFactory(owner=user)
    channel = f"project:{project.pk}"

    async def scenario():
        sock = await opened(user)
        assert (await sock.ask({"type": "subscribe", "channel": channel}))["type"] == "subscribed"
        await sock.ask({"type": "unsubscribe", "channel": channel})
        await sync_to_async(project.delete)()
        assert error_code(await sock.ask({"type": "subscribe", "channel": channel})) == "NOT_FOUND"
        reply = await sock.ask({"type": "message", "channel": channel, "data": {}})
        assert error_code(reply) == "NOT_FOUND"
        await sock.disconnect()

    run(scenario)
