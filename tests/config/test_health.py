"""Liveness and readiness."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from django.db import connection

from tests.live import live_server, request

HEALTH = "/api/v1/public/health"
READY = "/api/v1/public/health/ready"

pytestmark = pytest.mark.django_db


def test_liveness(api, settings):
    response = api.get(HEALTH)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["version"] == settings.APP_VERSION
    assert body["timestamp"].endswith("Z")
    datetime.fromisoformat(body["timestamp"])


def test_readiness_reports_each_component(api, settings):
    response = api.get(READY)

    assert response.status_code == 200
    body = response.json()
    assert body["components"]["database"]["status"] == "healthy"
    assert body["components"]["database"]["latency_ms"] >= 0
    if settings.REDIS_URL:
        assert body["status"] == "healthy"
        assert body["components"]["redis"]["status"] == "healthy"
        assert body["components"]["redis"]["latency_ms"] >= 0
    else:
        assert body["status"] == "healthy"
        assert body["components"]["redis"] == {"status": "not_configured", "latency_ms": None}


def test_readiness_is_degraded_when_redis_is_down(api, settings):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }

    response = api.get(READY)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["components"]["redis"]["status"] == "unhealthy"
    assert body["components"]["database"]["status"] == "healthy"


def _unreachable_database_url() -> str:
    if connection.vendor == "postgresql":
        return "postgres://postgres@127.0.0.1:9/unreachable"
    return "sqlite:////nonexistent-directory/unreachable.sqlite3"


@pytest.mark.live
def test_readiness_is_503_when_the_database_is_unreachable():
    env = {
        "DATABASE_URL": _unreachable_database_url(),
        "DATABASE_POOL_TIMEOUT": "1",
        "DATABASE_CONNECT_TIMEOUT": "1",
    }
    with live_server(env) as url:
        status, headers, body = request("GET", url + READY)
        liveness, _, _ = request("GET", url + HEALTH)

    assert status == 503
    payload = json.loads(body)
    assert payload["status"] == "unhealthy"
    assert payload["components"]["database"]["status"] == "unhealthy"
    assert headers["Content-Type"].startswith("application/json")
    assert liveness == 200  # the process itself is alive
