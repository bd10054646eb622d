"""The WebSocket at /api/v1/app/ws (API.md §9): one consumer per socket.

Handshake: the origin is checked (a browser's must be allowed; native apps send none), then the
user is found from `Authorization: Bearer` or a `?ticket=`, and a slot is claimed under the
per-user cap, all in one trip to a worker thread. Refusals are close codes a browser can read:
4401 (no or bad credentials), 4403 (deactivated, or an impersonation token), 4429 (too many
sockets). A refused origin is a refused handshake (HTTP 403).

Then the socket is on `user:<id>` and answers the client's frames (`ping`, `subscribe`,
`unsubscribe`, `message`), each checked for size, rate and shape before anything else. Events
reach it through the channel layer as ready-made JSON text (`realtime.publisher`), so fanning
one event out to many sockets encodes it once.

Work per frame stays on the event loop: no thread hop and no database unless a subscription
needs an authorizer (Channels' own dispatch would close stale database connections in a thread
for every message, which is what makes idle sockets cost CPU; `dispatch` below does not).
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any
from urllib.parse import parse_qs

import orjson
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from config.errors import envelope
from config.observability import connection_id_var, user_id_var
from realtime import channels, connections, metering, metrics, periodic
from realtime.dispatch import serve
from realtime.handshake import CLOSE_TOO_MANY, HandshakeRefused, authenticate, origin_allowed
from realtime.limits import FrameRateLimiter

logger = logging.getLogger(__name__)

CLOSE_TOO_BIG = 4009

PONG = orjson.dumps({"type": "pong"}).decode()


class AppSocket(AsyncWebsocketConsumer):
    """One client's socket: its user, its subscriptions, its frame budget."""

    user: Any = None
    user_id: str = ""
    connection_id: str = ""
    closed = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # One long-lived task per source instead of Channels' two tasks and a wait per message.
        await serve(self, scope, receive, send)

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- Handshake ------------------------------------------------------------------------

    async def connect(self) -> None:
        self.connection_id = secrets.token_hex(8)
        connection_id_var.set(self.connection_id)
        headers = dict(self.scope.get("headers") or ())
        if not origin_allowed(headers.get(b"origin"), host=headers.get(b"host")):
            metrics.record_auth_failure("origin")
            logger.info("websocket refused: origin not allowed")
            await self.close()  # before accept: the handshake is refused with 403
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        try:
            # Not serialized: handshakes mostly wait on the database and Redis, so a connect
            # storm runs them side by side instead of queueing behind one thread.
            self.user = await connections.in_thread(
                authenticate,
                authorization=headers.get(b"authorization", b"").decode("latin-1"),
                ticket=(query.get("ticket") or [""])[0],
                connection_id=self.connection_id,
            )
        except HandshakeRefused as refused:
            metrics.record_auth_failure(refused.reason)
            logger.info("websocket refused: %s", refused.reason)
            await self.accept()
            await self.close_with(refused.code, refused.message)
            return
        self.user_id = str(self.user.pk)
        user_id_var.set(self.user_id)
        self.limiter = FrameRateLimiter.from_setting(settings.WS_RATE_LIMIT)
        self.subscriptions: set[str] = set()
        self.authorized: set[str] = set()
        await self.accept()
        connections.open_sockets[self.connection_id] = self
        metrics.CONNECTIONS.inc()
        periodic.run_every(connections.REFRESH_SECONDS, connections.aslots_refresh, name="slots")
        periodic.run_every(metering.FLUSH_SECONDS, metering.aflush, name="usage")
        own_channel = channels.user_channel(self.user_id)
        await self._join(own_channel)
        logger.info("websocket connected")
        await self._send(
            "connected", {"data": {"user_id": self.user_id, "connection_id": self.connection_id}}
        )

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        # Channels' own also closes stale database connections in a thread hop per socket; the
        # database work here (database_sync_to_async) already does that around each call.
        await self.disconnect(int(message.get("code", 1000)))
        raise StopConsumer()

    async def disconnect(self, code: int) -> None:
        self.closed = True
        if connections.open_sockets.pop(self.connection_id, None) is None:
            return  # never accepted as a user's socket
        metrics.CONNECTIONS.dec()
        for channel in list(self.subscriptions):
            await self.channel_layer.group_discard(channels.group_name(channel), self.channel_name)
        await connections.in_thread(
            connections.slot_release, user_id=self.user_id, connection_id=self.connection_id
        )
        logger.info("websocket disconnected", extra={"close_code": code})

    # --- Client frames --------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closed or self.user is None:
            return
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > settings.WS_MAX_FRAME_BYTES:
            await self.close_with(CLOSE_TOO_BIG, "Frame too large")
            return
        verdict = self.limiter.hit(time.monotonic())
        if verdict is FrameRateLimiter.CLOSE:
            await self.close_with(CLOSE_TOO_MANY, "Too many frames")
            return
        metering.count(self.user_id)
        if verdict is FrameRateLimiter.REFUSE:
            metrics.record_frame("other", "in")
            await self._error(
                None,
                "RATE_LIMIT_EXCEEDED",
                "Too many frames: slow down",
                {"retry_after": self.limiter.retry_after(time.monotonic())},
            )
            return
        try:
            frame = orjson.loads(text_data if text_data is not None else b"\x00")
        except orjson.JSONDecodeError:
            metrics.record_frame("other", "in")
            await self._error(None, "INVALID_JSON", "Frames must be JSON text")
            return
        if not isinstance(frame, dict):
            metrics.record_frame("other", "in")
            await self._invalid(None, "type", "A frame must be a JSON object")
            return
        frame_id = frame.get("id")
        if not isinstance(frame_id, str | int) or isinstance(frame_id, bool):
            frame_id = None
        frame_type = frame.get("type")
        if not isinstance(frame_type, str):
            metrics.record_frame("other", "in")
            await self._invalid(frame_id, "type", "This field is required")
            return
        metrics.record_frame(frame_type, "in")
        handler = self.FRAME_HANDLERS.get(frame_type)
        if handler is None:
            await self._error(frame_id, "UNKNOWN_EVENT", f"Unknown frame type {frame_type[:40]!r}")
            return
        await handler(self, frame, frame_id)

    async def _on_ping(self, frame: dict[str, Any], frame_id: Any) -> None:
        if frame_id is None:
            await self._send_text(PONG, "pong")
        else:
            await self._send("pong", {"id": frame_id})

    async def _on_subscribe(self, frame: dict[str, Any], frame_id: Any) -> None:
        channel = await self._readable_channel(frame, frame_id)
        if channel is None:
            return
        if channel not in self.subscriptions:
            if len(self.subscriptions) >= settings.WS_MAX_SUBSCRIPTIONS:
                await self._error(
                    frame_id,
                    "QUOTA_EXCEEDED",
                    "Too many subscriptions on this socket",
                    {"limit": "subscriptions", "max": settings.WS_MAX_SUBSCRIPTIONS},
                )
                return
            await self._join(channel)
        await self._send("subscribed", {"channel": channel}, frame_id)

    async def _on_unsubscribe(self, frame: dict[str, Any], frame_id: Any) -> None:
        channel = frame.get("channel")
        if not isinstance(channel, str) or channels.parse(channel) is None:
            await self._invalid(frame_id, "channel", "A channel such as 'project:<id>'")
            return
        if channel == channels.user_channel(self.user_id):
            await self._invalid(frame_id, "channel", "A socket stays on its own user channel")
            return
        # Asked again on the next subscribe: the object may be gone or no longer the user's.
        self.authorized.discard(channel)
        if channel in self.subscriptions:
            self.subscriptions.discard(channel)
            await self.channel_layer.group_discard(channels.group_name(channel), self.channel_name)
        await self._send("unsubscribed", {"channel": channel}, frame_id)

    async def _on_message(self, frame: dict[str, Any], frame_id: Any) -> None:
        data = frame.get("data")
        if not isinstance(data, dict):
            await self._invalid(frame_id, "data", "A JSON object is required")
            return
        channel = await self._readable_channel(frame, frame_id)
        if channel is None:
            return
        text = orjson.dumps(
            {"type": "message", "channel": channel, "data": data, "from_user_id": self.user_id}
        ).decode()
        await self.channel_layer.group_send(
            channels.group_name(channel),
            {"type": "realtime.message", "text": text, "sender": self.channel_name},
        )

    FRAME_HANDLERS = {
        "ping": _on_ping,
        "subscribe": _on_subscribe,
        "unsubscribe": _on_unsubscribe,
        "message": _on_message,
    }

    async def _readable_channel(self, frame: dict[str, Any], frame_id: Any) -> str | None:
        """The frame's channel when this user may read it; else an error frame and None."""
        channel = frame.get("channel")
        if not isinstance(channel, str) or channels.parse(channel) is None:
            await self._invalid(frame_id, "channel", "A channel such as 'project:<id>'")
            return None
        if channel not in self.authorized:
            readable = await database_sync_to_async(channels.may_read)(self.user, channel)
            if not readable:
                await self._error(
                    frame_id,
                    "NOT_FOUND",
                    "Channel not found",
                    {"resource": "Channel", "id": channel},
                )
                return None
            self.authorized.add(channel)
        return channel

    async def _join(self, channel: str) -> None:
        self.subscriptions.add(channel)
        self.authorized.add(channel)
        await self.channel_layer.group_add(channels.group_name(channel), self.channel_name)

    # --- Channel layer messages -----------------------------------------------------------

    async def realtime_event(self, message: dict[str, Any]) -> None:
        """An event published to a channel this socket is on (`realtime.publisher`)."""
        metering.count(self.user_id)
        await self._send_text(message["text"], "event")

    async def realtime_message(self, message: dict[str, Any]) -> None:
        """A client's message on a channel this socket is on; the sender does not get it back."""
        if message.get("sender") == self.channel_name:
            return
        metering.count(self.user_id)
        await self._send_text(message["text"], "message")

    async def realtime_close(self, message: dict[str, Any]) -> None:
        """Close this user's sockets (deactivated or erased): `code` 4403."""
        if self.closed:
            return  # a deactivation and the erasure that follows each send one
        logger.info("websocket closed by the server: %s", message.get("reason", ""))
        await self.close_with(int(message["code"]), message.get("reason", ""))

    # --- Sending --------------------------------------------------------------------------

    async def _send(self, frame_type: str, fields: dict[str, Any], frame_id: Any = None) -> None:
        frame = {"type": frame_type, **fields}
        if frame_id is not None:
            frame["id"] = frame_id
        await self._send_text(orjson.dumps(frame).decode(), frame_type)

    async def _send_text(self, text: str, frame_type: str) -> None:
        if self.closed:
            return
        metrics.record_frame(frame_type, "out")
        await self.send(text_data=text)

    async def _error(
        self, frame_id: Any, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        await self._send("error", envelope(code, message, details), frame_id)

    async def _invalid(self, frame_id: Any, field: str, message: str) -> None:
        await self._error(
            frame_id,
            "VALIDATION_ERROR",
            f"{field}: {message}",
            {"field": field, "errors": [{"field": field, "message": message, "code": "invalid"}]},
        )

    async def close_with(self, code: int, reason: str = "") -> None:
        """Close from the server's side with `code` (once; later frames are not sent)."""
        if self.closed:
            return
        self.closed = True
        metrics.record_close(code)
        await self.close(code=code, reason=reason[:120] or None)
