"""Rate limits shared by every worker through the cache (Redis when configured).

A fixed window per scope and caller: every request increments the window's counter atomically
(with Redis, one transaction that creates it with its expiry when new and increments it), so all
processes spend one budget. Authenticated callers are counted by user id, anonymous ones by
client IP. The state of the tightest limit is kept on the request and
`RateLimitHeadersMiddleware` turns it into the `X-RateLimit-*` headers. When the cache is down
the request is served and the fault logged.

A view under several limits (the AI views: the default one and `RATE_LIMIT_AI`) can check them
with one throttle whose `companion_scopes` name the others: every window is counted in the same
transaction, one round trip instead of one per limit, and each limit answers as its own
throttle would (its headers, its 429 and Retry-After, its metric). Such a throttle can also
name cache keys its view will read (`read_ahead`): they are read in that transaction too and
left on the request (`cache_read_ahead`: key -> the cached value, None when not cached), so
the view reads them without a round trip of its own.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from config.metrics import record_rate_limited
from config.outages import OutageLog
from config.redis_client import full_key, redis_client

if TYPE_CHECKING:
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)

PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


RATE_LIMITER_OUTAGE = OutageLog(logger, "rate limiter unavailable, requests allowed")


@dataclass
class Window:
    """One limit's fixed window for one caller: its counter's key, and the count once counted."""

    scope: str
    limit: int
    start: int
    seconds: int
    key: str
    count: int = field(default=0, compare=False)

    @property
    def timeout(self) -> int:
        return self.seconds + 1


@dataclass
class Companions:
    """What `increment` does along with the count it is asked for: the companion windows to
    count, the cache keys to read, and what it found of them."""

    windows: tuple[Window, ...] = ()
    reads: tuple[str, ...] = ()
    found: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RateLimitState:
    """What the client is told about one limit after this request."""

    limit: int
    remaining: int
    reset_at: int  # unix time at which the window frees a slot


def parse_rate(rate: str) -> tuple[int, int]:
    """`60/minute` → (60, 60): number of requests and window length in seconds."""
    count, period = rate.split("/")
    return int(count), PERIOD_SECONDS[period[0]]


class ScopedRateThrottle(BaseThrottle):
    """Counts requests per scope and caller in a fixed window held in the cache.

    `companion_scopes`: further limits checked with this one, and `read_ahead`: cache keys read,
    both in the same round trip (see the module docstring).
    """

    scope = "default"
    companion_scopes: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.wait_seconds: float | None = None
        # This request's companion windows and reads (DRF builds a throttle per request), which
        # `count`, a subclass's included, passes to `increment`.
        self.companions = Companions()

    def allow_request(self, request: Request, view: APIView) -> bool:
        now = time.time()
        caller = self.caller(request)
        own, *companions = [
            self.window(request, scope, caller=caller, now=now)
            for scope in (self.scope, *self.companion_scopes)
        ]
        reads = tuple(self.read_ahead(request))
        self.companions = Companions(tuple(companions), reads)
        try:
            own.count = self.count(request, own.key, timeout=own.timeout)
        except Exception as error:  # noqa: BLE001 - cache backends raise their own error types
            RATE_LIMITER_OUTAGE.failed(error)
            return True
        RATE_LIMITER_OUTAGE.recovered()
        if reads:
            request._request.cache_read_ahead = self.companions.found  # type: ignore[attr-defined]
        allowed = True
        for window in (own, *companions):
            state = RateLimitState(
                limit=window.limit,
                remaining=max(0, window.limit - window.count),
                reset_at=window.start + window.seconds,
            )
            self.remember(request, state)
            if window.count > window.limit:
                wait = max(1, math.ceil(window.start + window.seconds - now))
                self.wait_seconds = max(wait, self.wait_seconds or 0)
                record_rate_limited(scope=window.scope)
                allowed = False
        return allowed

    def window(self, request: Request, scope: str, *, caller: str, now: float) -> Window:
        """`scope`'s current window for `caller`."""
        limit, seconds = parse_rate(self.rate_for(request, scope))
        start = int(now // seconds * seconds)
        return Window(scope, limit, start, seconds, f"throttle:{scope}:{caller}:{start}")

    def read_ahead(self, request: Request) -> list[str]:
        """Cache keys the view will read, to read in the limit's transaction (none here)."""
        return []

    def count(self, request: Request, key: str, *, timeout: int) -> int:
        """Count this request in the window's counter `key` (and its companions); the new
        count."""
        return self.increment(key, timeout=timeout, companions=self.companions)

    @staticmethod
    def increment(
        key: str,
        *,
        timeout: int,
        along: Callable[[Any], None] | None = None,
        companions: Companions | None = None,
    ) -> int:
        """Atomically count one request in `key`; the new count.

        With Redis, one round trip: a transaction creates the window's counter with its expiry
        when it is new, increments it, and carries the commands `along` queues on the same
        pipeline. With the in-process cache, its incr (and `along` is not called). With
        `companions`, it also counts their windows (setting their `count`) and reads their keys
        (setting `found`), in the same transaction.
        """
        also = companions or Companions()
        client = redis_client()
        if client is None:
            for window in also.windows:
                window.count = _cache_increment(window.key, timeout=window.timeout)
            cached = cache.get_many(also.reads) if also.reads else {}
            also.found = {read: cached.get(read) for read in also.reads}
            return _cache_increment(key, timeout=timeout)
        pipe = client.pipeline(transaction=True)
        for stored, expiry in [(key, timeout), *((w.key, w.timeout) for w in also.windows)]:
            pipe.set(full_key(stored), 0, ex=expiry, nx=True)
            pipe.incr(full_key(stored))
        if also.reads:
            pipe.mget([full_key(read) for read in also.reads])
        if along is not None:
            along(pipe)
        results = pipe.execute()
        for position, window in enumerate(also.windows, start=1):
            window.count = int(results[2 * position + 1])
        if also.reads:
            values = results[2 * len(also.windows) + 2]
            also.found = {
                read: None if value is None else _decode(value)
                for read, value in zip(also.reads, values, strict=True)
            }
        return int(results[1])

    def rate_for(self, request: Request, scope: str | None = None) -> str:
        """The rate of `scope` (this throttle's by default); a paid plan's `rate_limit`
        (BILLING_PLANS) replaces the default scope's."""
        scope = scope or self.scope
        if scope == "default":
            plan = getattr(request.user, "subscription_plan", "free")
            plan_rate = settings.BILLING_PLANS.get(plan, {}).get("rate_limit")
            if plan != "free" and plan_rate:
                return str(plan_rate)
        return str(settings.RATE_LIMITS[scope])

    def wait(self) -> float | None:
        return self.wait_seconds

    def caller(self, request: Request) -> str:
        user = request.user
        if user is not None and user.is_authenticated:
            return f"user:{user.pk}"
        return f"ip:{self.get_ident(request)}"

    @staticmethod
    def remember(request: Request, state: RateLimitState) -> None:
        """Keep the tightest limit seen on this request for the response headers."""
        django_request = request._request
        current: RateLimitState | None = getattr(django_request, "rate_limit", None)
        if current is None or state.remaining < current.remaining:
            django_request.rate_limit = state  # type: ignore[attr-defined]


def _decode(value: bytes) -> Any:
    """A value the raw Redis client read, as the cache API returns it (django-redis)."""
    return cache.client.decode(value)  # type: ignore[attr-defined]


def _cache_increment(key: str, *, timeout: int) -> int:
    """Count one request in `key` of the in-process cache; the new count."""
    try:
        return cache.incr(key)
    except ValueError:  # first request of the window
        cache.add(key, 0, timeout=timeout)
        return cache.incr(key)


class DefaultRateThrottle(ScopedRateThrottle):
    """`RATE_LIMIT_DEFAULT`: every throttled API view."""

    scope = "default"


class RateLimitHeadersMiddleware:
    """Adds `X-RateLimit-Limit/Remaining/Reset` to responses of throttled views."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        state: RateLimitState | None = getattr(request, "rate_limit", None)
        if state is not None:
            response["X-RateLimit-Limit"] = str(state.limit)
            response["X-RateLimit-Remaining"] = str(state.remaining)
            response["X-RateLimit-Reset"] = str(state.reset_at)
        return response
