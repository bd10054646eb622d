"""The WebSocket's Prometheus series (scraped with the rest at /api/v1/public/metrics):

groundwork_ws_connections                      sockets open now (gauge, summed over processes)
groundwork_ws_frames_total{type,direction}     frames by type, direction in|out
groundwork_ws_auth_failures_total{reason}      handshakes refused: missing|invalid|ticket|
                                               deactivated|origin|impersonation
groundwork_ws_closes_total{code}               sockets closed by the server, by close code
groundwork_realtime_publish_seconds            publish() call to the event handed to the layer
groundwork_realtime_publish_failures_total     events the layer could not take (Redis down)
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONNECTIONS = Gauge(
    "groundwork_ws_connections", "WebSockets open now.", multiprocess_mode="livesum"
)
FRAMES = Counter("groundwork_ws_frames", "WebSocket frames, by type.", ["type", "direction"])
AUTH_FAILURES = Counter(
    "groundwork_ws_auth_failures", "WebSocket handshakes refused, by reason.", ["reason"]
)
CLOSES = Counter("groundwork_ws_closes", "WebSockets closed by the server, by code.", ["code"])
PUBLISH_SECONDS = Histogram(
    "groundwork_realtime_publish_seconds",
    "From publish() to the event handed to the channel layer.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
PUBLISH_FAILURES = Counter(
    "groundwork_realtime_publish_failures", "Events the channel layer could not take."
)

# The frame types there are; anything else a client sends is counted as `other`.
FRAME_TYPES = frozenset(
    {
        "connected", "ping", "pong", "subscribe", "subscribed", "unsubscribe", "unsubscribed",
        "message", "event", "error", "other",
    }
)  # fmt: skip
_frame_counters = {
    (frame_type, direction): FRAMES.labels(type=frame_type, direction=direction)
    for frame_type in FRAME_TYPES
    for direction in ("in", "out")
}


def record_frame(frame_type: str, direction: str) -> None:
    """One frame of `frame_type` received (`in`) or sent (`out`)."""
    counter = _frame_counters.get((frame_type, direction))
    if counter is None:
        counter = _frame_counters[("other", direction)]
    counter.inc()


def record_auth_failure(reason: str) -> None:
    """A handshake refused for its credentials or origin."""
    AUTH_FAILURES.labels(reason=reason).inc()


def record_close(code: int) -> None:
    """The server closed a socket with `code`."""
    CLOSES.labels(code=str(code)).inc()
