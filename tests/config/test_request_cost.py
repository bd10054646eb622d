"""What an authenticated API request costs in round trips once its user is cached."""

from __future__ import annotations

import os

import pytest

from accounts.user_cache import forget_users
from tests.usage.conftest import metrics

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)"),
]


@pytest.mark.parametrize("path", ["/api/v1/app/projects", "/api/v1/app/users/me"])
def test_two_redis_round_trips_carry_the_user_the_limits_and_the_meter(
    api, user, redis_sends, path
):
    client = api.as_user(user)
    for _ in range(2):  # the first records the sign-in (and forgets the cached row)
        assert client.get(path).status_code == 200
    redis_sends.clear()

    response = client.get(path)

    assert response.status_code == 200
    # One read (the failure limiter and the cached user), one transaction (the rate limit and
    # the usage count).
    assert len(redis_sends) == 2
    assert int(response["X-RateLimit-Remaining"]) == int(response["X-RateLimit-Limit"]) - 3
    assert metrics(client)["api_requests"] == 4


def test_a_request_whose_user_is_not_cached_reads_the_database_once(
    api, user, redis_sends, django_assert_max_num_queries
):
    client = api.as_user(user)
    for _ in range(2):
        client.get("/api/v1/app/users/me")
    forget_users(user.pk)
    with django_assert_max_num_queries(1):
        assert client.get("/api/v1/app/users/me").status_code == 200
    with django_assert_max_num_queries(0):
        assert client.get("/api/v1/app/users/me").status_code == 200
