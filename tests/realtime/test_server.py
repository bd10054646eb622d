"""The WebSocket served by real processes: `manage.py realtime_serve` (uvicorn, production) and
`manage.py runserver` (Daphne, `make run`), driven by real clients over TCP.

One realtime process serves most tests of this module, with a 1 s heartbeat and a 3 s idle
timeout so that dropping a silent client takes seconds; the shutdown test stops its own. The
servers create the users of the tokens in the shared database; every table is emptied once the
module is done (as `transactional_db` does after each test: once here, since it takes seconds).
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from accounts.tokens import mint_development_token
from realtime.management.commands.realtime_serve import LIVENESS_PATH
from tests.processes import HEALTH, Process, wait_for
from tests.realtime.live_servers import api, empty_database, realtime_server, runserver, ws_url

# The test's own transaction (`db`) is never written to: the servers commit to the database
# (the marker also has the test database set up when this module runs alone).
pytestmark = [pytest.mark.live, pytest.mark.django_db]

HEARTBEAT_SECONDS = 1
IDLE_TIMEOUT_SECONDS = 3


@pytest.fixture(scope="module", autouse=True)
def _tables_emptied_afterwards(django_db_blocker: Any) -> Iterator[None]:
    yield
    empty_database(django_db_blocker)


def _token() -> str:
    """A Bearer token for a new user (the server creates it in the shared database)."""
    subject = f"socket|{uuid.uuid4()}"
    return mint_development_token(email=f"{uuid.uuid4().hex[:12]}@example.com", subject=subject)


@pytest.fixture(scope="module")
def realtime_env(live_database_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": live_database_url,
        "WS_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
        "WS_IDLE_TIMEOUT_SECONDS": str(IDLE_TIMEOUT_SECONDS),
        "LOG_FORMAT": "console",
    }


@pytest.fixture(scope="module")
def realtime(realtime_env: dict[str, str]) -> Iterator[Process]:
    with realtime_server(realtime_env) as process:
        yield process


def _get_json(url: str) -> tuple[int, dict[str, Any]]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, json.loads(response.read())


async def _connected(url: str) -> ClientConnection:
    """A socket of a new user that got its `connected` frame."""
    socket = await connect(url, additional_headers={"Authorization": f"Bearer {_token()}"})
    frame = json.loads(await asyncio.wait_for(socket.recv(), 10))
    assert frame["type"] == "connected", frame
    return socket


async def _closed_with(socket: ClientConnection, timeout: float = 5) -> int:
    """The close code the server sent, reading (and dropping) any frames before it."""
    async with asyncio.timeout(timeout):
        try:
            while True:
                await socket.recv()
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, closed
            return closed.rcvd.code


async def _ping_pong(socket: ClientConnection) -> None:
    await socket.send(json.dumps({"type": "ping", "id": 7}))
    assert json.loads(await asyncio.wait_for(socket.recv(), 5)) == {"type": "pong", "id": 7}


# --- A hand-driven client, to control whether pings are answered ---------------------------


class RawSocket:
    """A WebSocket client over a plain TCP stream (websockets' sans-I/O protocol): it answers
    the server's pings only when `answers_pings`, which no ready-made client lets one turn off."""

    def __init__(self, url: str, *, answers_pings: bool) -> None:
        self.url = url
        self.answers_pings = answers_pings
        self.protocol = ClientProtocol(parse_uri(url))
        self.response: Response | None = None
        self.pings = 0
        self.texts: list[dict[str, Any]] = []
        self.ended = False

    async def open(self, token: str) -> None:
        uri = parse_uri(self.url)
        self.reader, self.writer = await asyncio.open_connection(uri.host, uri.port)
        request = self.protocol.connect()
        request.headers["Authorization"] = f"Bearer {token}"
        self.protocol.send_request(request)
        self._flush(always=True)
        await self.until(lambda: self.texts, timeout=10)
        assert self.response is not None and self.response.status_code == 101, self.response
        assert self.texts[0]["type"] == "connected", self.texts

    def send_text(self, frame: dict[str, Any]) -> None:
        self.protocol.send_text(json.dumps(frame).encode())
        self._flush(always=True)

    async def closed_with(self, timeout: float) -> int:
        """Read until the server ends the connection; its close code."""
        await self.until(lambda: False, timeout=timeout)
        assert self.protocol.close_rcvd is not None
        return self.protocol.close_rcvd.code

    async def until(self, condition: Any, timeout: float = 10) -> None:
        """Read and handle what the server sends until `condition()` holds; fails if the
        connection ends first (unless waiting for that) or after `timeout` seconds."""
        async with asyncio.timeout(timeout):
            while not condition():
                data = await self.reader.read(65536)
                if not data:
                    self.protocol.receive_eof()
                    self.ended = True
                    return
                self.protocol.receive_data(data)
                for event in self.protocol.events_received():
                    if isinstance(event, Response):
                        self.response = event
                    elif isinstance(event, Frame) and event.opcode is Opcode.PING:
                        self.pings += 1
                    elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                        self.texts.append(json.loads(bytes(event.data)))
                self._flush()

    def _flush(self, *, always: bool = False) -> None:
        # What the protocol wants to send now: pongs (and close replies) when reading, frames of
        # ours when sending. A client that does not answer pings drops its pending replies.
        data = b"".join(self.protocol.data_to_send())
        if data and (always or self.answers_pings):
            self.writer.write(data)

    def close(self) -> None:
        self.writer.close()


# --- realtime_serve (uvicorn) ---------------------------------------------------------------


def test_a_bearer_client_connects_and_is_answered(realtime):
    async def scenario() -> None:
        socket = await _connected(ws_url(realtime))
        async with socket:
            await _ping_pong(socket)

    asyncio.run(scenario())


def test_a_frame_over_64_kib_is_closed_by_the_server_with_1009(realtime):
    async def scenario() -> int:
        socket = await _connected(ws_url(realtime))
        await socket.send("x" * 70 * 1024)
        return await _closed_with(socket)

    assert asyncio.run(scenario()) == 1009


def test_a_frame_of_exactly_64_kib_reaches_the_app(realtime):
    async def scenario() -> dict[str, Any]:
        socket = await _connected(ws_url(realtime))
        async with socket:
            await socket.send(json.dumps({"type": "ping", "pad": ""}).ljust(64 * 1024))
            return json.loads(await asyncio.wait_for(socket.recv(), 5))

    assert asyncio.run(scenario()) == {"type": "pong"}


def test_a_client_that_answers_no_ping_is_dropped_and_one_that_does_stays(realtime):
    async def scenario() -> tuple[int, float]:
        normal = await _connected(ws_url(realtime))
        answering = RawSocket(ws_url(realtime), answers_pings=True)
        silent = RawSocket(ws_url(realtime), answers_pings=False)
        await answering.open(_token())
        # Past the idle timeout twice over, pings still come, are answered, and frames flow.
        answered = asyncio.create_task(
            answering.until(lambda: answering.pings >= 2 * IDLE_TIMEOUT_SECONDS)
        )
        await silent.open(_token())
        opened = time.monotonic()

        code = await silent.closed_with(timeout=IDLE_TIMEOUT_SECONDS + 5)
        dropped_after = time.monotonic() - opened
        await answered
        assert not answering.ended
        answering.send_text({"type": "ping"})
        await answering.until(lambda: answering.texts[-1] == {"type": "pong"})
        async with normal:
            await _ping_pong(normal)
        answering.close()
        silent.close()
        return code, dropped_after

    code, dropped_after = asyncio.run(scenario())

    assert code == 1011  # keepalive ping timeout
    # The first ping goes out a heartbeat after the handshake; unanswered, the socket is dropped
    # WS_IDLE_TIMEOUT_SECONDS after it opened.
    assert IDLE_TIMEOUT_SECONDS - 0.5 <= dropped_after < IDLE_TIMEOUT_SECONDS + 3, dropped_after


def test_the_process_answers_health_liveness_and_readiness(realtime):
    async def scenario() -> dict[str, Any]:
        async with await _connected(ws_url(realtime)):
            return _get_json(realtime.url + LIVENESS_PATH)[1]

    live = asyncio.run(scenario())
    health = _get_json(realtime.url + HEALTH)
    ready = _get_json(realtime.url + HEALTH + "/ready")

    assert live["status"] == "healthy" and live["sockets"] >= 1
    assert health[0] == 200 and health[1]["status"] == "healthy"
    assert ready[0] == 200 and ready[1]["components"]["database"]["status"] == "healthy"


def test_the_query_string_of_a_handshake_is_not_logged(realtime):
    async def scenario() -> None:
        ticket = uuid.uuid4().hex
        socket = await connect(f"{ws_url(realtime)}?ticket={ticket}")
        assert await _closed_with(socket) == 4401  # no such ticket
        wait_for(lambda: "websocket refused" in realtime.output(), what="the refusal logged")
        assert ticket not in realtime.output()

    asyncio.run(scenario())


def test_sigterm_closes_every_socket_with_1001_at_once(realtime_env):
    with realtime_server(realtime_env) as process:

        async def scenario() -> tuple[list[int], float]:
            sockets = [await _connected(ws_url(process)) for _ in range(3)]
            stopping = time.monotonic()
            process.popen.send_signal(signal.SIGTERM)
            codes = await asyncio.gather(*(_closed_with(socket) for socket in sockets))
            return list(codes), time.monotonic() - stopping

        codes, seconds = asyncio.run(scenario())
        process.wait(timeout=15)

    assert codes == [1001, 1001, 1001]
    assert seconds < 3, seconds
    assert "closing 3 socket(s) with 1001" in process.output()


# --- runserver (Daphne): `make run` ---------------------------------------------------------


@pytest.fixture(scope="module")
def development_server(live_database_url: str) -> Iterator[Process]:
    # What `make run` runs, in its environment (local: DEBUG on).
    env = {"ENVIRONMENT": "local", "DATABASE_URL": live_database_url, "LOG_FORMAT": "console"}
    with runserver(env) as process:
        yield process


def test_runserver_serves_the_api_the_admin_static_files_and_the_socket_on_one_port(
    development_server,
):
    def status(path: str) -> int:
        with urllib.request.urlopen(development_server.url + path, timeout=10) as response:
            return int(response.status)

    # A browser's way in: a ticket from the API, then the socket, both on this one port.
    created, body = api("POST", development_server, "ws/ticket", token=_token())
    assert created == 201, body

    async def scenario() -> dict[str, Any]:
        async with connect(ws_url(development_server, ticket=body["ticket"])) as socket:
            connected = json.loads(await asyncio.wait_for(socket.recv(), 10))
            await _ping_pong(socket)
            return connected

    assert asyncio.run(scenario())["type"] == "connected"
    assert status(HEALTH) == 200
    assert status("/admin/login/") == 200
    assert status("/static/admin/css/base.css") == 200
    assert "Daphne" in development_server.output()


def test_runserver_closes_a_frame_over_64_kib_with_4009(development_server):
    async def scenario() -> int:
        socket = await _connected(ws_url(development_server))
        await socket.send("x" * (64 * 1024 + 1))
        return await _closed_with(socket)

    assert asyncio.run(scenario()) == 4009
