"""Real time: the WebSocket at /api/v1/app/ws, its channels, and `publish(...)` for services."""

from realtime.publisher import close_user_sockets, publish

__all__ = ["close_user_sockets", "publish"]
