"""Real WebSocket servers for the live tests, and a real client (the `websockets` library).

`realtime_server(env)` runs `manage.py realtime_serve` (uvicorn, as in production) and
`runserver(env)` runs `manage.py runserver` (Daphne: HTTP and WebSocket on one port, as `make run`
does); both on a free port, ready once their health answers; `started_together` boots several
at once. `opened(server, ...)` and `connected(server, ...)` are client sockets with JSON helpers,
`api(...)` an HTTP call with a Bearer token.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, asynccontextmanager, contextmanager
from typing import Any
from urllib.parse import quote

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.fakes import free_port
from tests.live import request
from tests.processes import HEALTH, Process, answers, child_env, spawned

WS_PATH = "/api/v1/app/ws"
# How long a client waits for a frame (or a close) the test expects.
FRAME_TIMEOUT = 5.0


@contextmanager
def realtime_server(env: Mapping[str, str]) -> Iterator[Process]:
    """`manage.py realtime_serve` on a free port with `env` over ours (`process.url`)."""
    port = free_port()
    with _served([sys.executable, "manage.py", "realtime_serve", f"--port={port}"], env, port) as p:
        yield p


@contextmanager
def runserver(env: Mapping[str, str]) -> Iterator[Process]:
    """`manage.py runserver` (Daphne: the API and the WebSocket) on a free port, `env` over ours."""
    port = free_port()
    command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    with _served(command, env, port) as process:
        yield process


@contextmanager
def started_together(*servers: AbstractContextManager[Process]) -> Iterator[list[Process]]:
    """Start several servers at once (each takes seconds to boot); all are stopped afterwards,
    and none is left running when one fails to start."""
    with ExitStack() as stack:
        with ThreadPoolExecutor(len(servers)) as pool:
            futures = [pool.submit(server.__enter__) for server in servers]
        started, failure = [], None
        for server, future in zip(servers, futures, strict=True):
            try:
                started.append(future.result())
            except BaseException as error:  # noqa: BLE001 - raised below, once the rest is stopped
                failure = failure or error
            else:
                stack.push(server)
        if failure is not None:
            raise failure
        yield started


@contextmanager
def _served(command: list[str], env: Mapping[str, str], port: int) -> Iterator[Process]:
    url = f"http://127.0.0.1:{port}"
    with spawned(
        command,
        child_env(env),
        ready=lambda _: answers(url + HEALTH),
        what=f"{command[2]} at {url}",
        timeout=45,
        stop_timeout=10,
    ) as process:
        process.url = url
        yield process


def empty_database(django_db_blocker: Any) -> None:
    """Empty every table of the test database (as `transactional_db` does after a test), for
    rows that server processes committed to it; on SQLite they wrote to a copy, left alone."""
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor == "postgresql":
        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0, reset_sequences=False)


def ws_url(server: Process, *, ticket: str | None = None) -> str:
    """The WebSocket URL of `server`, with a ticket when given."""
    url = "ws" + server.url.removeprefix("http") + WS_PATH
    return f"{url}?ticket={quote(ticket)}" if ticket else url


def api(
    method: str, server: Process, path: str, *, token: str, body: Any = None
) -> tuple[int, Any]:
    """An API call with a Bearer token: (status, decoded JSON body or None)."""
    headers = {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    status, _, raw = request(method, server.url + "/api/v1/app/" + path, headers=headers, body=data)
    return status, (json.loads(raw) if raw else None)


class Client:
    """One client socket: JSON frames in and out, and how it was closed."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def send(self, frame: Any) -> None:
        """Send one JSON text frame."""
        await self.connection.send(orjson.dumps(frame).decode())

    async def frame(self, timeout: float = FRAME_TIMEOUT) -> dict[str, Any]:
        """The next frame the server sent (fails after `timeout` seconds)."""
        try:
            text = await asyncio.wait_for(self.connection.recv(), timeout)
        except TimeoutError:
            raise AssertionError(f"no frame within {timeout} s") from None
        frame: dict[str, Any] = orjson.loads(text)
        return frame

    async def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send `frame` and return the reply."""
        await self.send(frame)
        return await self.frame()

    async def subscribe(self, channel: str) -> None:
        """Subscribe to `channel`, expecting `subscribed`."""
        reply = await self.request({"type": "subscribe", "channel": channel})
        assert reply == {"type": "subscribed", "channel": channel}, reply

    async def closed_with(self, timeout: float = FRAME_TIMEOUT) -> int:
        """The close code the server ends the socket with within `timeout` seconds; any frame
        that arrives first fails the test (nothing else was expected)."""
        try:
            text = await asyncio.wait_for(self.connection.recv(), timeout)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else 1006
        except TimeoutError:
            raise AssertionError(f"still open after {timeout} s") from None
        raise AssertionError(f"a frame instead of a close: {text!r}")


@asynccontextmanager
async def opened(
    server: Process, *, token: str | None = None, ticket: str | None = None
) -> AsyncIterator[Client]:
    """A socket to `server` with a Bearer token or a ticket (no Origin, as a native app)."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    async with connect(
        ws_url(server, ticket=ticket),
        additional_headers=headers,
        open_timeout=FRAME_TIMEOUT,
        close_timeout=2,
    ) as connection:
        yield Client(connection)


@asynccontextmanager
async def connected(
    server: Process, *, token: str | None = None, ticket: str | None = None
) -> AsyncIterator[tuple[Client, dict[str, Any]]]:
    """An open socket past its `connected` frame: (client, that frame's data)."""
    async with opened(server, token=token, ticket=ticket) as client:
        frame = await client.frame()
        assert frame["type"] == "connected", frame
        yield client, frame["data"]
