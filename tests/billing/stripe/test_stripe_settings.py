"""STRIPE_* configuration read at start-up, and what it does to the SDK."""

from __future__ import annotations

import json

import pytest
import stripe
from django.conf import settings
from django.core.checks.registry import registry

from billing.stripe.client import apply_settings
from tests.billing.stripe.fake_stripe import SECRET_KEY
from tests.live import run_manage

PRINT_STRIPE = (
    "import json, stripe; from django.conf import settings as s; print(json.dumps({"
    "'live': s.STRIPE_LIVE_MODE, 'version': s.STRIPE_API_VERSION, 'base': stripe.api_base, "
    "'origins': s.BILLING_REDIRECT_ORIGINS}))"
)


def test_defaults_leave_stripe_off_with_a_pinned_api_version():
    assert settings.STRIPE_SECRET_KEY == settings.STRIPE_WEBHOOK_SECRET == ""
    assert settings.STRIPE_API_VERSION == "2026-08-26.dahlia"
    assert settings.STRIPE_API_BASE == "https://api.stripe.com"
    assert settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS == 300
    assert settings.DJSTRIPE_FOREIGN_KEY_TO_FIELD == "id"
    assert settings.DJSTRIPE_SUBSCRIBER_CUSTOMER_KEY == "user_id"


@pytest.mark.standalone
def test_the_key_decides_live_mode_and_the_base_reaches_the_sdk():
    env = {
        "STRIPE_SECRET_KEY": "sk_live_" + "A1" * 12,
        "STRIPE_API_BASE": "http://127.0.0.1:12111/",
        "BILLING_REDIRECT_ORIGINS": "https://app.example.com,http://localhost:5173",
    }

    result = run_manage(env, "shell", "--verbosity", "0", "-c", PRINT_STRIPE)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "live": True,
        "version": "2026-08-26.dahlia",
        "base": "http://127.0.0.1:12111",
        "origins": ["https://app.example.com", "http://localhost:5173"],
    }


@pytest.mark.standalone
def test_bad_stripe_values_stop_start_up_and_are_all_listed():
    env = {
        "STRIPE_SECRET_KEY": "pk_test_" + "a" * 24,
        "STRIPE_TIMEOUT_SECONDS": "0",
        "BILLING_REDIRECT_ORIGINS": "https://app.example.com/path",
    }

    result = run_manage(env, "check")

    assert result.returncode != 0
    for name in env:
        assert f"- {name}" in result.stderr, name


@pytest.mark.standalone
def test_a_webhook_secret_needs_the_api_key():
    result = run_manage({"STRIPE_WEBHOOK_SECRET": "whsec_x"}, "check")

    assert result.returncode != 0
    assert "STRIPE_WEBHOOK_SECRET needs STRIPE_SECRET_KEY" in result.stderr


@pytest.mark.standalone
def test_production_refuses_a_fake_stripe_but_starts_without_stripe():
    from tests.config.test_settings import GOOD_PRODUCTION

    with_fake = run_manage(
        {**GOOD_PRODUCTION, "STRIPE_SECRET_KEY": SECRET_KEY, "STRIPE_API_BASE": "http://fake"},
        "check",
    )

    assert with_fake.returncode != 0
    assert "STRIPE_API_BASE is for local fakes" in with_fake.stderr
    assert run_manage(GOOD_PRODUCTION, "check").returncode == 0


def test_settings_changed_at_run_time_reach_the_sdk(settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:1"
    settings.STRIPE_MAX_NETWORK_RETRIES = 0

    apply_settings()

    assert (stripe.api_base, stripe.max_network_retries) == ("http://127.0.0.1:1", 0)


def test_dj_stripe_webhook_endpoint_checks_are_left_out():
    from djstripe import checks

    assert checks.check_webhook_validation not in registry.registered_checks
    assert checks.check_webhook_endpoint_has_secret not in registry.registered_checks
    assert checks.check_stripe_api_version in registry.registered_checks
