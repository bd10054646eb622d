"""`manage.py realtime_serve`: the realtime process, uvicorn serving realtime.asgi.

Production runs it behind the proxy, which sends it /api/v1/app/ws (the HTTP API stays on the
WSGI workers). The WebSocket limits of API.md §9 are uvicorn's settings here: frames over
WS_MAX_FRAME_BYTES close the socket with 1009, the server pings every WS_HEARTBEAT_SECONDS and
drops a socket that has not answered a ping within WS_IDLE_TIMEOUT_SECONDS of the previous one.
On SIGTERM every socket is closed with 1001 (going away) so clients reconnect elsewhere, then
uvicorn finishes its own shutdown.
"""

from __future__ import annotations

from typing import Any

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand

from realtime import connections, metering

GOING_AWAY = 1001


class RealtimeServer(uvicorn.Server):
    """uvicorn, closing the sockets with 1001 before its own shutdown (which would send 1012)."""

    async def shutdown(self, sockets: Any = None) -> None:
        for server in self.servers:
            server.close()
        await connections.close_all(code=GOING_AWAY)
        await metering.aflush()
        await super().shutdown(sockets)


def server_config(*, host: str, port: int) -> uvicorn.Config:
    """uvicorn's configuration for the realtime process, from the settings."""
    return uvicorn.Config(
        "realtime.asgi:application",
        host=host,
        port=port,
        ws="websockets-sansio",
        ws_max_size=settings.WS_MAX_FRAME_BYTES,
        ws_ping_interval=settings.WS_HEARTBEAT_SECONDS,
        ws_ping_timeout=settings.WS_IDLE_TIMEOUT_SECONDS - settings.WS_HEARTBEAT_SECONDS,
        lifespan="off",
        # Django's LOGGING (JSON lines with the connection id) stays in charge.
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.REALTIME_FORWARDED_ALLOW_IPS,
        timeout_graceful_shutdown=10,
        backlog=4096,
    )


class Command(BaseCommand):
    help = "Serve the WebSocket (/api/v1/app/ws) and health with uvicorn."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8002)

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        RealtimeServer(server_config(host=host, port=port)).run()
