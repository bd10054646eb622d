"""The ASGI application: HTTP (Django) and the WebSocket at /api/v1/app/ws.

`manage.py runserver` serves it (Daphne, settings.ASGI_APPLICATION), and so does the realtime
process in production (`manage.py realtime_serve`), which the proxy sends /api/v1/app/ws to.
config/asgi.py stays HTTP only (the AI stream pool).
"""

from __future__ import annotations

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
http_application = get_asgi_application()

# After Django is set up: the consumer imports models through the apps that registered with it.
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from realtime.consumer import AppSocket  # noqa: E402
from realtime.publisher import bind_server_loop  # noqa: E402

WEBSOCKET_PATH = "api/v1/app/ws"

router = ProtocolTypeRouter(
    {
        "http": http_application,
        "websocket": URLRouter([path(WEBSOCKET_PATH, AppSocket.as_asgi())]),
    }
)


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The router, with events published in this process delivered through this loop."""
    bind_server_loop()
    await router(scope, receive, send)
