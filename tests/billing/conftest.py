"""Fixtures for the Stripe tests: a fake Stripe the SDK talks to, and signed deliveries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.billing.stripe import fake_stripe
from tests.billing.stripe.fake_stripe import FakeStripe, sign

WEBHOOK_URL = "/api/v1/public/webhooks/stripe"
MONTHLY = "price_pro_monthly"
YEARLY = "price_pro_yearly"
ENTERPRISE = "price_enterprise_monthly"
APP_ORIGIN = "https://app.example.com"
BILLING_ORIGIN = "https://billing.example.com"


@pytest.fixture
def stripe_fake(settings: Any) -> Iterator[FakeStripe]:
    """Stripe configured against a running fake, with the pro and enterprise prices in it."""
    with FakeStripe.running() as fake:
        fake.add_product("prod_pro", name="Pro")
        fake.add_product("prod_enterprise", name="Enterprise", metadata={"plan": "enterprise"})
        fake.add_price(MONTHLY, product="prod_pro", unit_amount=2500)
        fake.add_price(YEARLY, product="prod_pro", unit_amount=25000, interval="year")
        fake.add_price(ENTERPRISE, product="prod_enterprise", unit_amount=99000)
        settings.STRIPE_SECRET_KEY = fake_stripe.SECRET_KEY
        settings.STRIPE_WEBHOOK_SECRET = fake_stripe.WEBHOOK_SECRET
        settings.STRIPE_PRICE_ID_MONTHLY = MONTHLY
        settings.STRIPE_PRICE_ID_YEARLY = YEARLY
        settings.STRIPE_API_BASE = fake.url
        settings.STRIPE_TIMEOUT_SECONDS = 2
        settings.STRIPE_MAX_NETWORK_RETRIES = 0
        settings.CORS_ALLOWED_ORIGINS = [APP_ORIGIN]
        settings.BILLING_REDIRECT_ORIGINS = [BILLING_ORIGIN]
        settings.WEBHOOK_MAX_RETRIES = 3
        settings.WEBHOOK_RETRY_BACKOFF_SECONDS = 0
        yield fake


def deliver(client: Any, event: dict[str, Any], *, signature: str | None = None, **headers: str):
    """POST an event to the Stripe endpoint, signed as Stripe signs it unless told otherwise."""
    body = json.dumps(event).encode()
    header = sign(body) if signature is None else signature
    return client.post(
        WEBHOOK_URL,
        data=body,
        content_type="application/json",
        headers={"Stripe-Signature": header, **headers},
    )
