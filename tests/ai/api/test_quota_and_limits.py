"""The monthly AI token allowance (429 QUOTA_EXCEEDED), usage rows and the AI rate limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from ai.models import AIUsage
from ai.providers.base import Usage
from ai.selectors import ai_tokens_used, month_start, next_month_start
from ai.services import ai_cost_estimate

pytestmark = pytest.mark.django_db

CHAT = "/api/v1/app/ai/chat"
COMPLETIONS = "/api/v1/app/ai/completions"


def test_each_call_records_one_usage_row(api, user):
    api.as_user(user).post(CHAT, {"prompt": "a b"})
    api.as_user(user).post(COMPLETIONS, {"messages": [{"role": "user", "content": "c"}]})

    rows = list(AIUsage.objects.order_by("created_at", "id"))
    assert [(row.endpoint, row.streamed, row.success) for row in rows] == [
        ("chat", False, True),
        ("completions", False, True),
    ]
    assert (rows[0].prompt_tokens, rows[0].completion_tokens, rows[0].total_tokens) == (2, 3, 5)
    assert all(row.user_id == user.pk and row.latency_ms >= 0 for row in rows)


def test_cost_estimate_uses_the_model_prices(settings):
    settings.AI_MODEL_PRICES = {"priced": (2.5, 10.0)}

    cost = ai_cost_estimate(model="priced", usage=Usage(prompt_tokens=1000, completion_tokens=500))

    assert cost == Decimal("0.0075")
    assert ai_cost_estimate(model="unknown", usage=Usage(5, 5)) == 0


def test_the_row_carries_the_cost(api, user, settings):
    settings.AI_MODEL_PRICES = {"echo-1": (1_000_000.0, 2_000_000.0)}

    api.as_user(user).post(CHAT, {"prompt": "a b"})

    assert AIUsage.objects.get().cost_estimate == Decimal(2 * 1 + 3 * 2)


def test_quota_refuses_once_the_allowance_is_used(api, user, other_user, free_allowance):
    free_allowance(10)
    first = api.as_user(user).post(CHAT, {"prompt": "a b c d"})  # 4 + 5 tokens
    second = api.as_user(user).post(CHAT, {"prompt": "e"})  # 9 < 10: let through
    third = api.as_user(user).post(CHAT, {"prompt": "f"})
    streamed = api.as_user(user).post(CHAT, {"prompt": "f", "stream": True})
    someone_else = api.as_user(other_user).post(CHAT, {"prompt": "g"})

    assert (first.status_code, second.status_code) == (200, 200)
    assert third.status_code == 429
    error = third.json()["error"]
    assert error["code"] == "QUOTA_EXCEEDED"
    assert error["details"] == {
        "limit": "ai_tokens_per_month",
        "used": 12,
        "allowed": 10,
        "resets_at": next_month_start().isoformat().replace("+00:00", "Z"),
    }
    assert streamed.status_code == 429 and not streamed.streaming
    assert streamed.json()["error"]["code"] == "QUOTA_EXCEEDED"
    assert someone_else.status_code == 200
    assert AIUsage.objects.filter(user=user).count() == 2  # refusals are not calls


def test_quota_counts_the_current_calendar_month_only(api, user, free_allowance):
    free_allowance(10)
    last_month = month_start() - timedelta(seconds=1)
    AIUsage.objects.create(
        user=user, endpoint="chat", provider="echo", model="echo-1", total_tokens=500
    )
    AIUsage.objects.filter(user=user).update(created_at=last_month)

    response = api.as_user(user).post(CHAT, {"prompt": "hi"})

    assert response.status_code == 200
    assert ai_tokens_used(user=user, since=month_start()) == 3


def test_a_zero_allowance_refuses_at_once(api, user, free_allowance):
    free_allowance(0)

    response = api.as_user(user).post(COMPLETIONS, {"messages": [{"role": "user", "content": "x"}]})

    assert response.status_code == 429
    assert response.json()["error"]["details"]["used"] == 0


def test_quota_period_is_the_utc_calendar_month():
    moment = datetime(2025, 12, 31, 23, 30, tzinfo=UTC)

    assert month_start(now=moment) == datetime(2025, 12, 1, tzinfo=UTC)
    assert next_month_start(now=moment) == datetime(2026, 1, 1, tzinfo=UTC)
    assert month_start(now=timezone.now()).day == 1


def test_quota_check_costs_two_queries(api, user, django_assert_max_num_queries):
    api.as_user(user).post(CHAT, {"prompt": "warm up"})  # the user exists, login recorded

    # authentication (1), plan (1), token sum (1), usage row (1)
    with django_assert_max_num_queries(4):
        response = api.as_user(user).post(CHAT, {"prompt": "hi"})

    assert response.status_code == 200


def test_ai_rate_limit(api, user, settings):
    settings.RATE_LIMITS = {"default": "100/minute", "ai": "2/minute"}

    answers = [api.as_user(user).post(CHAT, {"prompt": "hi"}) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    error = answers[2].json()["error"]
    assert error["code"] == "RATE_LIMIT_EXCEEDED"
    assert error["details"]["retry_after"] >= 1
    assert answers[2]["Retry-After"]
    assert answers[1]["X-RateLimit-Limit"] == "2"
    assert answers[1]["X-RateLimit-Remaining"] == "0"
    assert AIUsage.objects.count() == 2


def test_the_ai_limit_covers_status_and_streams_and_spares_other_routes(api, user, settings):
    settings.RATE_LIMITS = {"default": "100/minute", "ai": "2/minute"}
    api.as_user(user).get("/api/v1/app/ai/status")
    b"".join(api.as_user(user).post(CHAT, {"prompt": "hi", "stream": True}).streaming_content)

    refused = api.as_user(user).post(CHAT, {"prompt": "hi", "stream": True})
    elsewhere = api.as_user(user).get("/api/v1/app/projects")

    assert refused.status_code == 429
    assert elsewhere.status_code == 200
    assert elsewhere["X-RateLimit-Limit"] == "100"


def test_calls_are_metered_in_the_usage_summary(api, user):
    api.as_user(user).post(CHAT, {"prompt": "a b"})  # 2 + 3 tokens
    b"".join(api.as_user(user).post(CHAT, {"prompt": "c", "stream": True}).streaming_content)
    api.as_user(user).post(CHAT, {"prompt": ""})  # refused by validation: not a call

    summary = api.as_user(user).get("/api/v1/app/usage/summary")

    assert summary.status_code == 200, summary.json()
    metrics = summary.json()["metrics"]
    assert (metrics["ai_requests"], metrics["ai_tokens"]) == (2, 5 + 3)
