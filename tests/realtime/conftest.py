"""Protocol tests drive the real ASGI application (realtime.asgi) in process with Channels'
`WebsocketCommunicator`; each test body is a coroutine run by `run(...)` on a fresh event loop,
so the consumer's database work runs on the test's thread and sees the test's transaction
(live tests run the same application in real server processes)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from unittest import mock

import orjson
import pytest
from asgiref.current_thread_executor import CurrentThreadExecutor
from asgiref.sync import AsyncToSync, async_to_sync
from channels import db as channels_db
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission

from accounts.impersonation import impersonation_start
from accounts.models import User
from accounts.tokens import mint_development_token
from realtime import channels, connections
from realtime.asgi import application

WS_PATH = "/api/v1/app/ws"

needs_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)")
without_redis = pytest.mark.skipif(
    bool(os.environ.get("REDIS_URL")), reason="the embedded (no REDIS_URL) configuration"
)


class _TestThreadExecutor(ThreadPoolExecutor):
    """The default executor of `run`'s event loop: hands blocking work to the test's thread."""

    def __init__(self, test_thread: CurrentThreadExecutor) -> None:
        super().__init__(max_workers=1)
        self.test_thread = test_thread

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return self.test_thread.submit(fn, *args, **kwargs)


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    """Run an async test body to the end.

    Every sync call the application makes from the loop (thread-sensitive or not, so also what a
    server would run in its thread pool) runs on the test's thread, whose database connection
    holds the test's transaction: the rows the test made are there, and rolled back after it.
    """

    async def on_the_test_thread() -> Any:
        test_thread = AsyncToSync.executors.current
        asyncio.get_running_loop().set_default_executor(_TestThreadExecutor(test_thread))
        return await scenario()

    # Channels closes "old" database connections around its database work, which would close
    # the one holding the test's transaction (Django's test client likewise keeps its requests
    # from closing it).
    with mock.patch.object(channels_db, "close_old_connections", lambda: None):
        return async_to_sync(on_the_test_thread)()


def bearer(user: User) -> list[tuple[bytes, bytes]]:
    token = mint_development_token(email=user.email, subject=user.pk)
    return [(b"authorization", f"Bearer {token}".encode())]


def bearer_token(token: str) -> list[tuple[bytes, bytes]]:
    """The handshake header carrying `token`."""
    return [(b"authorization", f"Bearer {token}".encode())]


class Socket(WebsocketCommunicator):
    """A client socket with JSON helpers, and waits that allow for a busy machine (channels'
    default is one second)."""

    async def connect(self, timeout: float = 5) -> tuple[bool, int | str | None]:
        return await super().connect(timeout)

    async def receive_output(self, timeout: float = 5) -> dict[str, Any]:
        return await super().receive_output(timeout)

    async def send_frame(self, frame: Any) -> None:
        await self.send_to(text_data=orjson.dumps(frame).decode())

    async def frame(self, timeout: float = 2) -> dict[str, Any]:
        return orjson.loads(await self.receive_from(timeout=timeout))

    async def closed_with(self, timeout: float = 2) -> int:
        message = await self.receive_output(timeout=timeout)
        assert message["type"] == "websocket.close", message
        return int(message.get("code", 1000))

    async def ended_with(self, timeout: float = 2) -> int:
        """The close code the server sent; the client then completes the close (as a server
        would report it), so the consumer's disconnect runs before this returns."""
        code = await self.closed_with(timeout)
        await self.disconnect(code=code)
        return code

    async def ask(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send `frame`, return the next frame received."""
        await self.send_frame(frame)
        return await self.frame()


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


async def refused(sock: Socket) -> int:
    """Open `sock`, expect it to be closed before any frame; the close code."""
    accepted, _ = await sock.connect()
    assert accepted, "the handshake itself was refused"
    return await sock.ended_with()


def error_code(frame: dict[str, Any]) -> str:
    """The code of an `error` frame."""
    assert frame["type"] == "error", frame
    return str(frame["error"]["code"])


@pytest.fixture(autouse=True)
def _fresh_layer() -> Iterator[None]:
    """A new in-memory channel layer and no sockets left from another test."""
    channel_layers.backends.clear()
    connections.open_sockets.clear()
    connections._local_slots.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def impersonation_token(user: User) -> str:
    """A running impersonation session's token for `user` (a support member acting as them)."""
    support = User.objects.create_user(
        "support@example.com", "a-long-support-password-1", is_staff=True
    )
    support.user_permissions.add(Permission.objects.get(codename="impersonate_user"))
    support = User.objects.get(pk=support.pk)  # permissions are cached on the instance
    _, token = impersonation_start(
        staff=support, user=user, reason="Ticket 7: sees no events", minutes=30,
        allow_changes=False,
    )  # fmt: skip
    return token


@pytest.fixture
def project_channels() -> None:
    """`project:<id>` channels, as the projects app registers them (readable by the owner)."""
    assert "project" in channels._authorizers, "the projects app registers the project kind"
