"""The in-app purchase and identity webhook configuration read at start-up, and product plans."""

from __future__ import annotations

import base64
import json

import pytest
from django.conf import settings

from billing.iap import plan_for_product
from tests.live import run_manage

PRINT_IAP = (
    "import json; from django.conf import settings as s; print(json.dumps({"
    "'plans': s.IAP_PRODUCT_PLANS, 'apple': s.APPLE_ENVIRONMENT, 'app_id': s.APPLE_APP_ID, "
    "'google_key': s.GOOGLE_PLAY_SERVICE_ACCOUNT_INFO, 'play': s.GOOGLE_PLAY_API_BASE}))"
)

SERVICE_ACCOUNT = {
    "type": "service_account",
    "client_email": "play@example.iam.gserviceaccount.com",
    "private_key": "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----\n",
    "token_uri": "https://oauth2.googleapis.com/token",
}


def test_defaults_leave_every_store_and_identity_webhook_off():
    assert settings.IAP_PRODUCT_PLANS == {}
    assert settings.APPLE_BUNDLE_ID == ""
    assert settings.APPLE_ENVIRONMENT == ["Sandbox"]
    assert settings.APPLE_ROOT_CERTIFICATES == []
    assert settings.GOOGLE_PLAY_SERVICE_ACCOUNT_INFO is None
    assert settings.GOOGLE_PUBSUB_CERTS_URL == "https://www.googleapis.com/oauth2/v1/certs"
    assert settings.GOOGLE_PLAY_API_BASE == "https://androidpublisher.googleapis.com"
    assert settings.CLERK_WEBHOOK_SECRET == settings.SUPABASE_WEBHOOK_SECRET == ""


@pytest.mark.parametrize("encode", [json.dumps, lambda v: base64.b64encode(json.dumps(v).encode())])
@pytest.mark.standalone
def test_good_values_are_parsed(tmp_path, encode):
    root = tmp_path / "AppleRootCA-G3.cer"
    root.write_bytes(b"certificate")
    key = encode(SERVICE_ACCOUNT)
    env = {
        "IAP_PRODUCT_PLANS": "com.example.pro.monthly=pro, com.example.team=enterprise",
        "APPLE_BUNDLE_ID": "com.example.app",
        "APPLE_APP_ID": "1234567890",
        "APPLE_ENVIRONMENT": "Production,Sandbox",
        "APPLE_ROOT_CERTIFICATES": str(root),
        "GOOGLE_PLAY_SERVICE_ACCOUNT_JSON": key if isinstance(key, str) else key.decode(),
        "GOOGLE_PLAY_API_BASE": "http://127.0.0.1:9999/",
    }

    result = run_manage(env, "shell", "--verbosity", "0", "-c", PRINT_IAP)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "plans": {"com.example.pro.monthly": "pro", "com.example.team": "enterprise"},
        "apple": ["Production", "Sandbox"],
        "app_id": 1234567890,
        "google_key": SERVICE_ACCOUNT,
        "play": "http://127.0.0.1:9999",
    }


@pytest.mark.standalone
def test_bad_values_stop_start_up_and_are_all_listed():
    env = {
        "IAP_PRODUCT_PLANS": "com.example.free=free",
        "APPLE_ENVIRONMENT": "Staging",
        "APPLE_ROOT_CERTIFICATES": "/nonexistent/AppleRootCA-G3.cer",
        "GOOGLE_PLAY_SERVICE_ACCOUNT_JSON": "{not json",
        "GOOGLE_PUBSUB_AUDIENCE": "https://api.example.com/webhooks/google",
        "CLERK_WEBHOOK_SECRET": "not-a-svix-secret",
        "SUPABASE_WEBHOOK_SECRET": "short",
    }

    result = run_manage(env, "check")

    assert result.returncode != 0
    for name in env:
        assert f"- {name}" in result.stderr, name
    assert "- GOOGLE_PUBSUB_AUDIENCE and GOOGLE_PUBSUB_SERVICE_ACCOUNT_EMAIL go together" in (
        result.stderr
    )


@pytest.mark.standalone
def test_production_refuses_unsigned_apple_data_and_google_fakes(tmp_path):
    from tests.config.test_settings import GOOD_PRODUCTION

    root = tmp_path / "AppleRootCA-G3.cer"
    root.write_bytes(b"certificate")
    env = {
        **GOOD_PRODUCTION,
        "APPLE_BUNDLE_ID": "com.example.app",
        "APPLE_ROOT_CERTIFICATES": str(root),
        "APPLE_ENVIRONMENT": "Production,Xcode",
        "GOOGLE_PLAY_API_BASE": "http://127.0.0.1:9999",
        "GOOGLE_PUBSUB_CERTS_URL": "http://127.0.0.1:9999/certs",
    }

    result = run_manage(env, "check")

    assert result.returncode != 0
    assert "APPLE_ENVIRONMENT=Xcode accepts unsigned data" in result.stderr
    assert "APPLE_ENVIRONMENT=Production needs APPLE_APP_ID" in result.stderr
    assert "GOOGLE_PLAY_API_BASE is for local fakes" in result.stderr
    assert "GOOGLE_PUBSUB_CERTS_URL is for local fakes" in result.stderr


@pytest.mark.parametrize(
    ("product_id", "plan"),
    [
        ("com.example.listed", "enterprise"),
        ("com.example.pro.monthly", "pro"),
        ("com.example.Enterprise.yearly", "enterprise"),
        ("anything_else", "pro"),
    ],
)
def test_products_map_to_plans_by_setting_then_by_name(settings, product_id, plan):
    settings.IAP_PRODUCT_PLANS = {"com.example.listed": "enterprise"}

    assert plan_for_product(product_id) == plan
