"""A cache outage drops counts but never fails a request; the summary falls back to the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.usage.conftest import SUMMARY_URL
from usage.models import UsageCounter
from usage.services import usage_flush, usage_record

pytestmark = pytest.mark.django_db

DEAD_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:9/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
}


def test_requests_succeed_and_the_summary_shows_the_stored_counts(api, user, settings, caplog):
    UsageCounter.objects.create(
        user=user, metric="ai_tokens", day=timezone.now().date() - timedelta(days=1), value=40
    )
    settings.CACHES = DEAD_REDIS
    client = api.as_user(user)

    assert client.get("/api/v1/app/users/me").status_code == 200
    response = client.get(SUMMARY_URL)

    assert response.status_code == 200
    assert response.json()["metrics"]["ai_tokens"] == 40
    assert "usage counter unavailable" in caplog.text
    assert "summary without cached counts" in caplog.text


def test_recording_does_not_raise(user, settings, caplog):
    settings.CACHES = DEAD_REDIS

    usage_record(user_id=user.pk, metric="emails_sent")

    assert "usage counter unavailable, counts dropped" in caplog.text


def test_the_flush_fails_loudly_so_the_task_retries(user, settings):
    settings.CACHES = DEAD_REDIS

    with pytest.raises(RedisConnectionError):
        usage_flush()
