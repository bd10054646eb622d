"""Rate limits shared by every worker through the cache (Redis when configured).

A fixed window per scope and caller: every request increments the window's counter atomically
(with Redis, one transaction that creates it with its expiry when new and increments it), so all
processes spend one budget. Authenticated callers are counted by user id, anonymous ones by
client IP. The state of the tightest limit is kept on the request and
`RateLimitHeadersMiddleware` turns it into the `X-RateLimit-*` headers. When the cache is down
the request is served and the fault logged.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
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
    """Counts requests per scope and caller in a fixed window held in the cache."""

    scope = "default"

    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def allow_request(self, request: Request, view: APIView) -> bool:
        limit, window = parse_rate(self.rate_for(request))
        now = time.time()
        window_start = int(now // window * window)
        key = f"throttle:{self.scope}:{self.caller(request)}:{window_start}"
        try:
            count = self.count(request, key, timeout=window + 1)
        except Exception as error:  # noqa: BLE001 - cache backends raise their own error types
            RATE_LIMITER_OUTAGE.failed(error)
            return True
        RATE_LIMITER_OUTAGE.recovered()
        state = RateLimitState(
            limit=limit, remaining=max(0, limit - count), reset_at=window_start + window
        )
        self.remember(request, state)
        if count > limit:
            self.wait_seconds = max(1, math.ceil(window_start + window - now))
            record_rate_limited(scope=self.scope)
            return False
        return True

    def count(self, request: Request, key: str, *, timeout: int) -> int:
        """Count this request in the window's counter `key`; the new count."""
        return self.increment(key, timeout=timeout)

    @staticmethod
    def increment(key: str, *, timeout: int, along: Callable[[Any], None] | None = None) -> int:
        """Atomically count one request in `key`; the new count.

        With Redis, one round trip: a transaction creates the window's counter with its expiry
        when it is new, increments it, and carries the commands `along` queues on the same
        pipeline. With the in-process cache, its incr (and `along` is not called).
        """
        client = redis_client()
        if client is None:
            try:
                return cache.incr(key)
            except ValueError:  # first request of the window
                cache.add(key, 0, timeout=timeout)
                return cache.incr(key)
        stored = full_key(key)
        pipe = client.pipeline(transaction=True)
        pipe.set(stored, 0, ex=timeout, nx=True)
        pipe.incr(stored)
        if along is not None:
            along(pipe)
        return int(pipe.execute()[1])

    def rate_for(self, request: Request) -> str:
        """The scope's rate; a paid plan's `rate_limit` (BILLING_PLANS) replaces the default."""
        if self.scope == "default":
            plan = getattr(request.user, "subscription_plan", "free")
            plan_rate = settings.BILLING_PLANS.get(plan, {}).get("rate_limit")
            if plan != "free" and plan_rate:
                return str(plan_rate)
        return str(settings.RATE_LIMITS[self.scope])

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


class DefaultRateThrottle(ScopedRateThrottle):
    """`RATE_LIMIT_DEFAULT`: every throttled API view."""

    scope = "default"


class AIRateThrottle(ScopedRateThrottle):
    """`RATE_LIMIT_AI`: the AI endpoints, on top of the default limit."""

    scope = "ai"


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
