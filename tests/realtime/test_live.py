"""Real time across processes: two realtime servers (uvicorn, `manage.py realtime_serve`) and the
WSGI API (gunicorn) on one database (the test's on PostgreSQL, a file copy of it on SQLite) and
one Redis, driven by real WebSocket clients.

The servers start once for this module; each test makes users and projects of its own.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from accounts.tokens import mint_development_token
from realtime import publish
from tests.processes import Process, default_queue, gunicorn, purge_queues, worker_env
from tests.realtime.live_servers import (
    Client,
    api,
    connected,
    empty_database,
    opened,
    realtime_server,
    started_together,
)

pytestmark = [
    pytest.mark.live,
    # The test database must exist; the tests write nothing themselves (the servers do).
    pytest.mark.django_db,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)"),
]

MAX_SOCKETS = 2
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_MANY = 4429


@dataclass
class Servers:
    a: Process  # realtime server A
    b: Process  # realtime server B
    web: Process  # the WSGI API


@pytest.fixture(scope="module")
def servers(live_database_url: str, django_db_blocker: Any) -> Iterator[Servers]:
    """Realtime servers A and B and gunicorn, sharing the test's database, Redis and prefix.

    Users and projects are made through the API, so the servers commit them (to a file copy of
    the test database on SQLite); on PostgreSQL every table is emptied once the module is done
    (as `transactional_db` does after each test: once here, since emptying them takes seconds).
    """
    env = worker_env(live_database_url, WS_MAX_CONNECTIONS_PER_USER=str(MAX_SOCKETS))
    try:
        with started_together(realtime_server(env), realtime_server(env), gunicorn(env)) as (
            a,
            b,
            web,
        ):
            yield Servers(a=a, b=b, web=web)
    finally:
        empty_database(django_db_blocker)
        # The erasure a deactivation sends to the broker: no worker here takes it.
        purge_queues(default_queue())


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run an async test body on a loop of its own."""
    asyncio.run(scenario())


@dataclass
class Person:
    id: str
    token: str


def new_user() -> Person:
    """Someone new (made by the servers on first use of the token; ids unique across runs
    sharing a Redis)."""
    key = uuid.uuid4().hex
    subject = f"live|{key}"
    return Person(subject, mint_development_token(email=f"{key}@example.com", subject=subject))


def new_project(servers: Servers, owner: Person) -> tuple[dict[str, Any], str]:
    """A project of `owner`, made through the API, and its channel."""
    status, body = api("POST", servers.web, "projects", token=owner.token, body={"name": "Plan"})
    assert status == 201, body
    return body, f"project:{body['id']}"


async def frames(client: Client, count: int) -> list[dict[str, Any]]:
    """The next `count` frames."""
    return [await client.frame() for _ in range(count)]


def test_events_and_messages_reach_sockets_on_another_process(servers):
    user = new_user()
    _, channel = new_project(servers, user)

    async def scenario() -> None:
        async with (
            connected(servers.a, token=user.token) as (on_a, _),
            connected(servers.b, token=user.token) as (on_b, _),
        ):
            await on_a.subscribe(channel)
            await on_b.subscribe(channel)

            await on_b.send({"type": "message", "channel": channel, "data": {"cursor": [3, 7]}})
            assert await on_a.frame() == {
                "type": "message",
                "channel": channel,
                "data": {"cursor": [3, 7]},
                "from_user_id": user.id,
            }

            publish(channel=channel, event="notification", data={"title": "Hi", "body": "All"})
            for client in (on_a, on_b):
                event = await client.frame()
                assert event.pop("timestamp").endswith("Z"), event
                assert event == {
                    "type": "event",
                    "event": "notification",
                    "channel": channel,
                    "data": {"title": "Hi", "body": "All"},
                }

    run(scenario)


def test_a_project_patched_through_the_api_reaches_its_subscriber(servers):
    user = new_user()
    project, channel = new_project(servers, user)

    async def scenario() -> None:
        async with connected(servers.a, token=user.token) as (on_a, _):
            await on_a.subscribe(channel)
            status, body = await asyncio.to_thread(
                api,
                "PATCH",
                servers.web,
                f"projects/{project['id']}",
                token=user.token,
                body={"name": "Renamed on the web"},
            )
            assert status == 200, body
            assert body["name"] == "Renamed on the web"
            # On the project's channel and on the user's own, which every socket is on.
            received = {event["channel"]: event for event in await frames(on_a, 2)}
            assert set(received) == {channel, f"user:{user.id}"}, received
            for event in received.values():
                assert (event["type"], event["event"]) == ("event", "project.updated"), event
                assert event["data"] == body

    run(scenario)


def ticket_for(servers: Servers, user: Person) -> str:
    """A ticket from the API (gunicorn)."""
    status, body = api("POST", servers.web, "ws/ticket", token=user.token)
    assert status == 201, body
    assert body["expires_in"] == 60
    ticket: str = body["ticket"]
    return ticket


def test_a_ticket_opens_one_socket_only_across_processes(servers):
    user = new_user()
    ticket, other_ticket = ticket_for(servers, user), ticket_for(servers, user)

    async def scenario() -> None:
        async with connected(servers.a, ticket=ticket) as (_, hello):
            assert hello["user_id"] == user.id
            async with opened(servers.b, ticket=ticket) as again:
                assert await again.closed_with() == CLOSE_UNAUTHENTICATED
            # B takes tickets from the API too: it refused that one because it was used.
            async with connected(servers.b, ticket=other_ticket) as (_, hello):
                assert hello["user_id"] == user.id

    run(scenario)


def test_another_users_project_is_not_found(servers):
    user = new_user()
    _, theirs = new_project(servers, new_user())

    async def scenario() -> None:
        async with connected(servers.a, token=user.token) as (on_a, _):
            error = await on_a.request({"type": "subscribe", "channel": theirs, "id": "s1"})
            assert error["type"] == "error", error
            assert error["id"] == "s1"
            assert error["error"]["code"] == "NOT_FOUND"
            assert error["error"]["details"] == {"resource": "Channel", "id": theirs}

            # Their project's events do not reach it: the next frame is the one after.
            publish(channel=theirs, event="project.updated", data={"id": "theirs"})
            publish(channel=f"user:{user.id}", event="notification", data={"title": "mine"})
            event = await on_a.frame()
            assert (event["channel"], event["data"]) == (f"user:{user.id}", {"title": "mine"})

    run(scenario)


async def until_connected(server: Process, token: str, timeout: float = 5) -> None:
    """Open a socket on `server`, retrying while it is refused for the user's slots being full
    (a slot is freed a moment after a socket closes); it is closed again at once."""
    deadline = time.monotonic() + timeout
    while True:
        async with opened(server, token=token) as client:
            try:
                frame = await client.frame()
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == CLOSE_TOO_MANY, closed
            else:
                assert frame["type"] == "connected", frame
                return
        assert time.monotonic() < deadline, "the slot was never freed"
        await asyncio.sleep(0.05)


def test_the_socket_cap_holds_across_processes(servers):
    user = new_user()

    async def scenario() -> None:
        async with connected(servers.a, token=user.token):
            async with connected(servers.b, token=user.token):
                for server in (servers.a, servers.b):
                    async with opened(server, token=user.token) as third:
                        assert await third.closed_with() == CLOSE_TOO_MANY
            # The socket on B closed: its slot is free again, on either process.
            await until_connected(servers.a, user.token)

    run(scenario)


def test_a_deactivated_users_sockets_close_on_every_process(servers):
    user = new_user()

    async def scenario() -> None:
        async with (
            connected(servers.a, token=user.token) as (on_a, _),
            connected(servers.b, token=user.token) as (on_b, _),
        ):
            status, body = await asyncio.to_thread(
                api, "DELETE", servers.web, "users/me", token=user.token
            )
            assert status == 204, body
            started = time.monotonic()
            assert await on_a.closed_with() == CLOSE_FORBIDDEN
            assert await on_b.closed_with() == CLOSE_FORBIDDEN
            assert time.monotonic() - started < 5
        async with opened(servers.b, token=user.token) as again:
            assert await again.closed_with() == CLOSE_FORBIDDEN

    run(scenario)
