"""BILLING_* configuration read at start-up, and the periodic expiry task."""

from __future__ import annotations

import json

import pytest
from django.conf import settings

from billing.tasks import expire_lapsed_entitlements
from tests.live import run_manage

PRINT_BILLING = (
    "import json; from django.conf import settings; "
    "print(json.dumps({'plans': settings.BILLING_PLANS, 'currency': settings.BILLING_CURRENCY}))"
)


def test_defaults():
    plans = settings.BILLING_PLANS

    assert list(plans) == ["free", "pro", "enterprise"]
    assert (plans["free"]["ai_tokens_per_month"], plans["free"]["storage_bytes"]) == (
        100_000,
        1024**3,
    )
    assert plans["free"]["prices"] == plans["enterprise"]["prices"] == {}
    assert plans["enterprise"]["rate_limit"] == "1000/minute"


@pytest.mark.standalone
def test_limits_and_prices_come_from_the_environment():
    env = {
        "BILLING_PRO_STORAGE_BYTES": "123",
        "BILLING_FREE_AI_TOKENS_PER_MONTH": "0",
        "BILLING_ENTERPRISE_RATE_LIMIT": "5000/minute",
        "BILLING_PRICE_MONTHLY_CENTS": "990",
        "BILLING_CURRENCY": "EUR",
    }

    result = run_manage(env, "shell", "--verbosity", "0", "-c", PRINT_BILLING)

    assert result.returncode == 0, result.stderr
    billing = json.loads(result.stdout)
    plans = billing["plans"]
    assert plans["pro"]["storage_bytes"] == 123
    assert plans["free"]["ai_tokens_per_month"] == 0
    assert plans["enterprise"]["rate_limit"] == "5000/minute"
    assert plans["pro"]["prices"] == {"month": 990, "year": 19000}
    assert billing["currency"] == "eur"


@pytest.mark.standalone
def test_bad_values_stop_start_up_and_are_all_listed():
    env = {
        "BILLING_PRO_STORAGE_BYTES": "-1",
        "BILLING_PRO_RATE_LIMIT": "lots",
        "BILLING_CURRENCY": "euro",
        "BILLING_PRICE_YEARLY_CENTS": "cheap",
    }

    result = run_manage(env, "check")

    assert result.returncode != 0
    for name in env:
        assert f"- {name}" in result.stderr, name


def test_expiry_runs_hourly_on_beat():
    entry = settings.CELERY_BEAT_SCHEDULE["billing-expire-lapsed-entitlements"]

    assert entry == {"task": expire_lapsed_entitlements.name, "schedule": 3600.0}


@pytest.mark.standalone
def test_plan_ai_models_default_by_tier_and_come_from_the_environment():
    default = settings.BILLING_PLANS
    free, pro = default["free"]["ai_models"], default["pro"]["ai_models"]
    enterprise = default["enterprise"]["ai_models"]
    env = {
        "BILLING_FREE_AI_MODELS": "echo-1, gpt-4o-mini",
        "BILLING_PRO_AI_MODELS": "*",
        "AI_MODEL_PRICES": '{"my-model": [1, 2]}',
        "BILLING_ENTERPRISE_AI_MODELS": "echo-1,my-model",
    }

    result = run_manage(env, "shell", "--verbosity", "0", "-c", PRINT_BILLING)

    # Free: each provider's configured model; pro adds mid-size ones; enterprise every priced one.
    assert set(free) == set(settings.AI_PROVIDER_MODELS.values())
    assert set(free) < set(pro) < set(enterprise) == set(settings.AI_MODEL_PRICES)
    assert "gpt-4o" in pro and "claude-opus-4-1" not in pro
    assert result.returncode == 0, result.stderr
    plans = json.loads(result.stdout)["plans"]
    assert plans["free"]["ai_models"] == ["echo-1", "gpt-4o-mini"]
    assert "my-model" in plans["pro"]["ai_models"] and "gpt-4o" in plans["pro"]["ai_models"]
    assert plans["enterprise"]["ai_models"] == ["echo-1", "my-model"]


@pytest.mark.standalone
def test_plan_ai_models_must_be_priced_and_include_the_default_model():
    env = {
        "BILLING_FREE_AI_MODELS": "echo-1,gpt-unpriced",
        "BILLING_PRO_AI_MODELS": "gpt-4o",
    }

    result = run_manage(env, "check")

    assert result.returncode != 0
    assert "- BILLING_FREE_AI_MODELS lists 'gpt-unpriced', which has no price" in result.stderr
    assert "- BILLING_PRO_AI_MODELS must include AI_DEFAULT_MODEL (echo-1)" in result.stderr
