"""The default rate limit, counting the request's `api_requests` usage in the same round trip."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request

from config.redis_client import redis_client
from config.throttling import DefaultRateThrottle
from usage.middleware import metered_user_id
from usage.services import COUNTER_OUTAGE, usage_record, usage_record_along


class MeteredRateThrottle(DefaultRateThrottle):
    """`DefaultRateThrottle` that also counts the request for its user, as it is admitted.

    With Redis the count rides in the limit's transaction: one round trip for both instead of
    two. The request is marked so that `UsageMiddleware` does not count it again; requests the
    limit never sees (refused before it, or views without it) are counted by the middleware
    after their response.
    """

    def count(self, request: Request, key: str, *, timeout: int) -> int:
        django_request = request._request
        user_id = metered_user_id(django_request, request.user)
        if user_id is None:
            return super().count(request, key, timeout=timeout)
        django_request.usage_counted = True  # type: ignore[attr-defined]
        if redis_client() is None:  # the in-process cache: no round trip to save
            usage_record(user_id=user_id, metric="api_requests")
            return super().count(request, key, timeout=timeout)

        def meter(pipe: Any) -> None:
            usage_record_along(pipe, user_id=user_id, metric="api_requests")

        try:
            return self.increment(key, timeout=timeout, along=meter, companions=self.companions)
        except Exception as error:
            COUNTER_OUTAGE.failed(error)  # the count is dropped with the limit's transaction
            raise  # the rate limit reports its own outage and lets the request through
