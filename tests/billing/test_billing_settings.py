"""BILLING_* configuration read at start-up, and the periodic expiry task."""

from __future__ import annotations

import json

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
