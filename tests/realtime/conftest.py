"""Protocol tests drive the real ASGI application (realtime.asgi) in process with Channels'
`WebsocketCommunicator`; each test body is a coroutine run by `run(...)` on a fresh event loop,
so the consumer's database work runs on the test's thread and sees the test's transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import orjson
import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator

from accounts.models import User
from accounts.tokens import mint_development_token
from realtime import connections
from realtime.asgi import application

WS_PATH = "/api/v1/app/ws"


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    """Run an async test body to the end."""
    return async_to_sync(scenario)()


def bearer(user: User) -> list[tuple[bytes, bytes]]:
    token = mint_development_token(email=user.email, subject=user.pk)
    return [(b"authorization", f"Bearer {token}".encode())]


class Socket(WebsocketCommunicator):
    """A client socket with JSON helpers."""

    async def send_frame(self, frame: Any) -> None:
        await self.send_to(text_data=orjson.dumps(frame).decode())

    async def frame(self, timeout: float = 2) -> dict[str, Any]:
        return orjson.loads(await self.receive_from(timeout=timeout))

    async def closed_with(self, timeout: float = 2) -> int:
        message = await self.receive_output(timeout=timeout)
        assert message["type"] == "websocket.close", message
        return int(message.get("code", 1000))


def socket(
    *, user: User | None = None, query: str = "", headers: list[tuple[bytes, bytes]] | None = None
) -> Socket:
    """A socket to /api/v1/app/ws, with the user's Bearer token when `user` is given."""
    all_headers = [*(bearer(user) if user is not None else []), *(headers or [])]
    path = f"{WS_PATH}?{query}" if query else WS_PATH
    return Socket(application, path, headers=all_headers)


async def connected(sock: Socket) -> dict[str, Any]:
    """Open `sock`, expect the `connected` frame, return it."""
    accepted, _ = await sock.connect()
    assert accepted
    frame = await sock.frame()
    assert frame["type"] == "connected", frame
    return frame


@pytest.fixture(autouse=True)
def _fresh_layer() -> Iterator[None]:
    """A new in-memory channel layer and no sockets left from another test."""
    channel_layers.backends.clear()
    connections.open_sockets.clear()
    connections._local_slots.clear()
    yield
    channel_layers.backends.clear()
