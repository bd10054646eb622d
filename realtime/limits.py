"""The per-socket frame budget (`WS_RATE_LIMIT`, default 30 frames per 10 s), in memory.

A fixed window per socket: within the limit a frame is handled; over it the frame is refused
with a RATE_LIMIT_EXCEEDED error frame; a socket that sends twice the limit in one window is
closed with 4429. No shared state: the budget belongs to the socket, so it costs no round trip.
"""

from __future__ import annotations

import math
import re
from typing import ClassVar

_UNITS = {"second": 1, "minute": 60, "hour": 3600}


def parse_ws_rate(rate: str) -> tuple[int, int]:
    """`30/10s` → (30, 10); `60/minute` → (60, 60)."""
    count, period = rate.split("/")
    match = re.fullmatch(r"(\d+)s", period)
    return int(count), int(match[1]) if match else _UNITS[period]


class FrameRateLimiter:
    """Counts one socket's frames in fixed windows."""

    ALLOW: ClassVar[str] = "allow"
    REFUSE: ClassVar[str] = "refuse"
    CLOSE: ClassVar[str] = "close"

    __slots__ = ("count", "limit", "window", "window_start")

    def __init__(self, limit: int, window: int) -> None:
        self.limit = limit
        self.window = window
        self.window_start = -math.inf
        self.count = 0

    @classmethod
    def from_setting(cls, rate: str) -> FrameRateLimiter:
        return cls(*parse_ws_rate(rate))

    def hit(self, now: float) -> str:
        """Count one frame at `now` (monotonic seconds): ALLOW, REFUSE or CLOSE."""
        if now - self.window_start >= self.window:
            self.window_start = now
            self.count = 0
        self.count += 1
        if self.count <= self.limit:
            return self.ALLOW
        return self.REFUSE if self.count <= 2 * self.limit else self.CLOSE

    def retry_after(self, now: float) -> int:
        """Whole seconds until the window ends."""
        return max(1, math.ceil(self.window_start + self.window - now))
