"""Rate limits: per user or IP, shared through the cache, never fatal."""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest

from accounts.tokens import mint_development_token
from tests.factories import UserFactory
from tests.live import live_server, request

ME = "/api/v1/app/users/me"

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_per_hour(settings):
    settings.RATE_LIMITS = {"default": "3/hour", "ai": "1/hour"}
    _avoid_window_edge(3600)


def _avoid_window_edge(window: int) -> None:
    """Wait out the last seconds of a window so a test's requests share one."""
    left = window - time.time() % window
    if left < 5:
        time.sleep(left + 0.1)


def test_rate_limit_headers_count_down(api, user, three_per_hour):
    client = api.as_user(user)

    remaining = [client.get(ME)["X-RateLimit-Remaining"] for _ in range(3)]

    assert remaining == ["2", "1", "0"]
    response = client.get(ME)
    assert response["X-RateLimit-Limit"] == "3"
    reset = int(response["X-RateLimit-Reset"])
    assert time.time() < reset <= time.time() + 3600


def test_exceeding_the_limit_is_429_with_retry_after(api, user, three_per_hour):
    client = api.as_user(user)
    for _ in range(3):
        assert client.get(ME).status_code == 200

    response = client.get(ME)

    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "RATE_LIMIT_EXCEEDED"
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 3600
    assert error["details"]["retry_after"] == retry_after
    assert response["X-RateLimit-Remaining"] == "0"


def test_each_user_has_their_own_budget(api, three_per_hour):
    first, second = UserFactory(), UserFactory()
    for _ in range(4):
        api.as_user(first).get(ME)

    assert api.as_user(first).get(ME).status_code == 429
    assert api.as_user(second).get(ME).status_code == 200


def test_anonymous_callers_are_counted_by_ip(api, settings, db):
    settings.RATE_LIMITS = {"default": "2/hour", "ai": "1/hour"}
    _avoid_window_edge(3600)

    statuses = [
        api.get("/api/v1/openapi.json", REMOTE_ADDR="203.0.113.7").status_code for _ in range(3)
    ]

    assert statuses == [200, 200, 429]
    assert api.get("/api/v1/openapi.json", REMOTE_ADDR="203.0.113.8").status_code == 200


def test_health_is_never_throttled(api, settings):
    settings.RATE_LIMITS = {"default": "1/hour", "ai": "1/hour"}

    statuses = {api.get(path).status_code for path in ["/api/v1/public/health"] * 5}

    assert statuses == {200}
    assert "X-RateLimit-Limit" not in api.get("/api/v1/public/health")


def test_requests_are_served_when_the_cache_is_down(api, user, settings, caplog):
    settings.RATE_LIMITS = {"default": "1/hour", "ai": "1/hour"}
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    client = api.as_user(user)

    statuses = [client.get(ME).status_code for _ in range(3)]

    assert statuses == [200, 200, 200]
    assert "rate limiter unavailable" in caplog.text


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)")
def test_the_budget_is_shared_by_two_server_processes(live_database_url):
    """Two separate gunicorn processes, one Redis: five requests in all, not five each."""
    _avoid_window_edge(3600)
    token = mint_development_token(email="shared@example.com", subject=f"shared|{uuid.uuid4()}")
    headers = {"Authorization": f"Bearer {token}"}
    env = {
        "DATABASE_URL": live_database_url,
        "REDIS_URL": os.environ["REDIS_URL"],
        "RATE_LIMIT_DEFAULT": "5/hour",
        "CACHE_KEY_PREFIX": f"throttle-test-{uuid.uuid4()}",
    }
    with live_server(env) as first, live_server(env) as second:
        results = []
        for base in [first, second] * 4:
            status, response_headers, body = request("GET", base + ME, headers=headers)
            results.append((status, response_headers.get("X-RateLimit-Remaining")))

    assert results[:5] == [(200, "4"), (200, "3"), (200, "2"), (200, "1"), (200, "0")]
    assert [status for status, _ in results[5:]] == [429, 429, 429]
    assert json.loads(body)["error"]["code"] == "RATE_LIMIT_EXCEEDED"


def test_a_paid_plan_brings_its_own_rate_limit(api, settings):
    settings.RATE_LIMITS = {"default": "2/hour", "ai": "1/hour"}
    settings.BILLING_PLANS = {
        **settings.BILLING_PLANS,
        "pro": {**settings.BILLING_PLANS["pro"], "rate_limit": "4/hour"},
    }
    _avoid_window_edge(3600)
    free, pro = UserFactory(), UserFactory(subscription_plan="pro")

    free_statuses = [api.as_user(free).get(ME).status_code for _ in range(3)]
    pro_statuses = [api.as_user(pro).get(ME).status_code for _ in range(5)]

    assert free_statuses == [200, 200, 429]
    assert pro_statuses == [200, 200, 200, 200, 429]
    assert api.as_user(pro).get(ME)["X-RateLimit-Limit"] == "4"
