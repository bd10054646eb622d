"""Outages of a shared service reported in one log line a minute, not one per request."""

from __future__ import annotations

import logging
import threading
import time
from typing import ClassVar


class OutageLog:
    """Reports an outage of a shared service (the cache) in one line a minute, not per request.

    While the cache is down every request fails open (is served unchecked); `failed(error)`
    logs a warning at most once per `interval` seconds in this process, with how many more
    failures were not logged, and `recovered()` (called on each success: a cheap check) logs
    the end of the outage once, so the next outage is reported at once. No traceback: the
    error's type and text say all there is to say.
    """

    instances: ClassVar[list[OutageLog]] = []

    def __init__(self, log: logging.Logger, message: str, *, interval: float = 60.0) -> None:
        self.log = log
        self.message = message
        self.interval = interval
        self._lock = threading.Lock()
        self._logged_at: float | None = None
        self._skipped = 0
        OutageLog.instances.append(self)

    @classmethod
    def reset_all(cls) -> None:
        """Forget every outage being reported (each test starts with none)."""
        for outage in cls.instances:
            with outage._lock:
                outage._logged_at, outage._skipped = None, 0

    def failed(self, error: Exception) -> None:
        """One more failure: logged when the last report is `interval` old (or none was)."""
        now = time.monotonic()
        with self._lock:
            if self._logged_at is not None and now - self._logged_at < self.interval:
                self._skipped += 1
                return
            skipped, self._skipped, self._logged_at = self._skipped, 0, now
        self.log.warning(
            "%s (%s: %s; %d more since the last report)",
            self.message,
            type(error).__name__,
            error,
            skipped,
        )

    def recovered(self) -> None:
        """A success: ends the outage being reported, if any."""
        if self._logged_at is None:
            return  # the common case, without the lock
        with self._lock:
            skipped, self._skipped, self._logged_at = self._skipped, 0, None
        self.log.warning("%s: over (%d more since the last report)", self.message, skipped)
