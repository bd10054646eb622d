"""Helpers for the usage tests: the summary over HTTP, flushing, and the Redis-only marker."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.conftest import ApiClient
from usage.tasks import flush_usage_counters

SUMMARY_URL = "/api/v1/app/usage/summary"

needs_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)")


def summary(client: ApiClient, **query: Any) -> dict[str, Any]:
    """GET /usage/summary (200 expected); the body."""
    response = client.get(SUMMARY_URL, query)
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def metrics(client: ApiClient, **query: Any) -> dict[str, int]:
    """The summary's metrics."""
    result: dict[str, int] = summary(client, **query)["metrics"]
    return result


def flush() -> int:
    """Run the flush task as beat would (eagerly here); how many counts it added."""
    return int(flush_usage_counters.delay().get())
