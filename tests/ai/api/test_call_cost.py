"""What a completion costs in round trips, and that each piece of work folded into them still
does what it did alone: both rate limits, the usage meter, the quota, the breaker, the row."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ai import breaker
from ai.models import AIUsage
from ai.selectors import ai_tokens_this_month
from tests.usage.conftest import metrics, needs_redis

CHAT = "/api/v1/app/ai/chat"
HELLO = {"prompt": "a b"}  # 2 + 3 tokens from the echo provider


@needs_redis
@pytest.mark.django_db
def test_a_completion_costs_three_redis_round_trips(api, user, redis_sends, settings):
    settings.RATE_LIMITS = {"default": "100/minute", "ai": "50/minute"}
    client = api.as_user(user)
    for _ in range(2):  # the sign-in is recorded, the user and the month's tokens cached
        assert client.post(CHAT, HELLO).status_code == 200
    redis_sends.clear()

    response = client.post(CHAT, HELLO)

    assert response.status_code == 200
    # One read (the failure limiter and the cached user); one transaction before the call (both
    # limits, the api_requests count, the month's tokens and the breaker); one after the answer
    # (the month's tokens, ai_requests and ai_tokens).
    assert len(redis_sends) == 3
    assert (response["X-RateLimit-Limit"], response["X-RateLimit-Remaining"]) == ("50", "47")
    assert ai_tokens_this_month(user=user) == 3 * 5
    counted = metrics(client)
    assert (counted["api_requests"], counted["ai_requests"], counted["ai_tokens"]) == (4, 3, 15)


@pytest.mark.django_db
def test_the_default_limit_refuses_ai_calls_too(api, user, settings):
    settings.RATE_LIMITS = {"default": "2/minute", "ai": "100/minute"}
    client = api.as_user(user)

    answers = [client.post(CHAT, HELLO) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert answers[2].json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert answers[2]["Retry-After"]
    assert (answers[1]["X-RateLimit-Limit"], answers[1]["X-RateLimit-Remaining"]) == ("2", "0")
    assert AIUsage.objects.count() == 2


@pytest.mark.django_db
def test_a_call_sees_the_breaker_as_it_is_when_it_starts(api, user, settings):
    settings.AI_BREAKER_FAILURES = 1
    settings.AI_BREAKER_RESET_SECONDS = 0.3
    client = api.as_user(user)
    assert client.post(CHAT, HELLO).status_code == 200
    breaker.record_failure("echo")  # another worker's call failed: the breaker opens

    skipped = client.post(CHAT, HELLO)
    time.sleep(0.4)
    probe = client.post(CHAT, HELLO)

    assert skipped.status_code == 502
    tried = skipped.json()["error"]["details"]["providers"]
    assert [(step["provider"], step["error"]) for step in tried] == [("echo", "circuit_open")]
    assert probe.status_code == 200
    assert breaker.state("echo") == "closed"


@pytest.mark.django_db
def test_a_call_sees_the_quota_as_it_is_when_it_starts(api, user, free_allowance):
    free_allowance(10)
    client = api.as_user(user)
    assert client.post(CHAT, HELLO).status_code == 200
    assert client.post(CHAT, HELLO).status_code == 200

    refused = client.post(CHAT, HELLO)

    assert refused.status_code == 429
    assert refused.json()["error"]["details"]["used"] == 10
    assert AIUsage.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_usage_row_is_one_statement_that_leaves_the_connection_as_it_was(api, user):
    if connection.vendor != "postgresql":
        pytest.skip("the asynchronous commit is PostgreSQL's")
    client = api.as_user(user)
    assert client.post(CHAT, {"prompt": "warm up"}).status_code == 200

    with CaptureQueriesContext(connection) as captured:
        response = client.post(CHAT, HELLO)

    assert response.status_code == 200
    statements = [query["sql"] for query in captured]
    assert len([sql for sql in statements if "ai_usage" in sql]) == 1
    assert not [sql for sql in statements if sql.split()[0].upper() in {"BEGIN", "SET", "COMMIT"}]
    row = AIUsage.objects.latest("id")
    assert (row.user_id, row.endpoint, row.provider, row.success, row.total_tokens) == (
        user.pk,
        "chat",
        "echo",
        True,
        5,
    )
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"  # the setting held for the row's own commit only
