"""`manage.py realtime_serve`: the realtime process, uvicorn serving realtime.asgi.

Production runs it behind the proxy, which sends it /api/v1/app/ws (the HTTP API stays on the
WSGI workers). The WebSocket limits of API.md §9 are uvicorn's settings here:

- a frame over WS_MAX_FRAME_BYTES closes the socket with 1009 before the app sees any of it;
- the server pings every WS_HEARTBEAT_SECONDS; once a ping is out, the client has
  WS_IDLE_TIMEOUT_SECONDS - WS_HEARTBEAT_SECONDS to answer it, else the socket is closed with
  1011. The next ping follows an answer by WS_HEARTBEAT_SECONDS, so a client silent since its
  last answer is dropped WS_IDLE_TIMEOUT_SECONDS after it (25 s and 60 s by default).

On SIGTERM (or Ctrl+C): no new connections, every socket is closed with 1001 (going away) so
clients reconnect to another process, their closing handshakes get up to
CLOSE_HANDSHAKE_SECONDS, then uvicorn's own shutdown runs. uvicorn would close the sockets with
1012 itself, but only those the app has not closed already, so none of ours.

Health: Django's /api/v1/public/health and /api/v1/public/health/ready are served here too (the
ASGI app is the whole project), and LIVENESS_PATH answers on the event loop itself, without
Django, the database or a thread, with the number of sockets this process holds: what the
container's health check asks. Logs go through Django's LOGGING (JSON lines in production).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand

from realtime import connections, metering
from realtime.asgi import application as project_application

logger = logging.getLogger(__name__)

GOING_AWAY = 1001
# How long shutdown waits for sending the 1001 frames, then for the clients' closing handshakes.
CLOSE_SECONDS = 5
CLOSE_HANDSHAKE_SECONDS = 2
LIVENESS_PATH = "/realtime/live"


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """realtime.asgi's application, with LIVENESS_PATH answered before Django."""
    if scope["type"] == "http" and scope["path"] == LIVENESS_PATH:
        body = orjson.dumps({"status": "healthy", "sockets": len(connections.open_sockets)})
        headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    await project_application(scope, receive, send)


class RealtimeServer(uvicorn.Server):
    """uvicorn, closing every socket with 1001 before its own shutdown."""

    async def shutdown(self, sockets: Any = None) -> None:
        for server in self.servers:
            server.close()
        count = len(connections.open_sockets)
        logger.info("shutting down: closing %d socket(s) with %d", count, GOING_AWAY)
        try:
            async with asyncio.timeout(CLOSE_SECONDS):
                await connections.close_all(code=GOING_AWAY)
        except TimeoutError:
            # A client that reads nothing blocks its close frame; uvicorn drops it below.
            logger.warning("some sockets could not be sent their close frame in time")
        await self._closing_handshakes(timeout=CLOSE_HANDSHAKE_SECONDS)
        await super().shutdown(sockets)
        await metering.aflush()

    async def _closing_handshakes(self, *, timeout: float) -> None:
        """Wait (at most `timeout`) for the clients to answer our close frames.

        uvicorn's shutdown closes the TCP connection of a socket whose close frame is out at
        once; a client still sending then may get a reset instead of a clean close.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and any(
            getattr(connection, "close_sent", False) for connection in self.server_state.connections
        ):
            await asyncio.sleep(0.02)


def server_config(*, host: str, port: int) -> uvicorn.Config:
    """uvicorn's configuration for the realtime process, from the settings."""
    heartbeat = settings.WS_HEARTBEAT_SECONDS
    return uvicorn.Config(
        application,
        host=host,
        port=port,
        # wsproto over websockets-sansio: about 3 KiB less per socket (the handshake request is
        # not kept) and shorter ping round trips under load (bench/README.md).
        ws="wsproto",
        ws_max_size=settings.WS_MAX_FRAME_BYTES,
        ws_ping_interval=heartbeat,
        ws_ping_timeout=settings.WS_IDLE_TIMEOUT_SECONDS - heartbeat,
        # No permessage-deflate: it costs memory per socket and frames are small JSON.
        ws_per_message_deflate=False,
        lifespan="off",
        # Django's LOGGING (JSON lines with the connection id) stays in charge.
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.REALTIME_FORWARDED_ALLOW_IPS,
        timeout_graceful_shutdown=10,
        backlog=4096,
    )


class _NoLinePerSocket(logging.Filter):
    """Drops the lines uvicorn and websockets log for every socket ("[accepted]", "connection
    open", "connection closed"): the consumer logs each socket's opening and closing itself,
    with its connection and user ids, and a connect storm would log three more lines a socket."""

    PER_SOCKET = frozenset({"connection open", "connection closed"})

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg
        if not isinstance(message, str):
            return True
        return message not in self.PER_SOCKET and '"WebSocket %s"' not in message


class Command(BaseCommand):
    help = "Serve the WebSocket (/api/v1/app/ws) and health with uvicorn."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8002)

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        logging.getLogger("uvicorn.error").addFilter(_NoLinePerSocket())
        RealtimeServer(server_config(host=host, port=port)).run()
