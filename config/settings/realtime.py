"""Real-time settings: the WebSocket at /api/v1/app/ws (API.md §9), Channels and its layer.

With REDIS_URL the channel layer is channels-redis's pub/sub layer: one Redis connection per
process, events fanned out in the process (no per-socket polling of Redis), so an event published
by any process (a web worker, a Celery task) reaches every socket on every ASGI process. Without
it, an in-memory layer serves the single development process (`make run`).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from config.settings.cache import REDIS_URL
from config.settings.core import env

# HTTP and the WebSocket (`manage.py runserver`, the realtime process); config/asgi.py is HTTP only.
ASGI_APPLICATION = "realtime.asgi.application"


def _database(url: str) -> str:
    """The Redis database number `url` names (0 when it names none)."""
    return urlsplit(url).path.strip("/") or "0"


if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                # Several deployments may share one Redis: their events never cross. Pub/sub
                # channels are server-wide whatever the database, so the prefix names it too.
                "prefix": f"{env.str('CACHE_KEY_PREFIX', 'groundwork')}:rt:{_database(REDIS_URL)}:",
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Frames per socket: "<count>/<seconds>s" (or /minute); over it an error frame, and a socket that
# keeps going past twice the limit in one window is closed with 4429.
WS_RATE_LIMIT = env.str("WS_RATE_LIMIT", "30/10s")
if not re.fullmatch(r"[1-9]\d*/([1-9]\d*s|second|minute|hour)", WS_RATE_LIMIT):
    env.problems.append(f"WS_RATE_LIMIT={WS_RATE_LIMIT!r} must look like '30/10s' or '60/minute'.")
    WS_RATE_LIMIT = "30/10s"
# Open sockets per user, over every process (counted in Redis when there is one).
WS_MAX_CONNECTIONS_PER_USER = env.int("WS_MAX_CONNECTIONS_PER_USER", 10, minimum=1)
# Channels one socket may be subscribed to at once, its own user channel included.
WS_MAX_SUBSCRIPTIONS = env.int("WS_MAX_SUBSCRIPTIONS", 100, minimum=1)
# A text frame over this many bytes closes the socket (1009 from uvicorn, 4009 from the consumer).
WS_MAX_FRAME_BYTES = 64 * 1024
# The server pings every WS_HEARTBEAT_SECONDS and drops a socket that has not answered within
# WS_IDLE_TIMEOUT_SECONDS of the last ping it answered (the ASGI server sends the pings).
WS_HEARTBEAT_SECONDS = env.int("WS_HEARTBEAT_SECONDS", 25, minimum=1)
WS_IDLE_TIMEOUT_SECONDS = env.int("WS_IDLE_TIMEOUT_SECONDS", 60, minimum=2)
if WS_IDLE_TIMEOUT_SECONDS <= WS_HEARTBEAT_SECONDS:
    env.problems.append("WS_IDLE_TIMEOUT_SECONDS must be longer than WS_HEARTBEAT_SECONDS.")
# Lifetime of a ticket from POST /api/v1/app/ws/ticket (single use).
WS_TICKET_SECONDS = 60

# `manage.py runserver` (Daphne) lets frames up to 1 MiB reach the consumer (its default), which
# closes anything over WS_MAX_FRAME_BYTES with 4009 itself.
# The realtime process trusts X-Forwarded-For/-Proto from these addresses (the proxy).
REALTIME_FORWARDED_ALLOW_IPS = env.str("REALTIME_FORWARDED_ALLOW_IPS", "127.0.0.1")
