"""Fixtures for the App Store tests: an offline chain configured as Apple's root, and delivery."""

from __future__ import annotations

from typing import Any

import pytest

from tests.billing.appstore.signing import APP_ID, BUNDLE_ID, AppStore, Chain, make_chain

WEBHOOK_URL = "/api/v1/public/webhooks/apple"
LINK_URL = "/api/v1/app/billing/iap/apple"
STATUS_URL = "/api/v1/app/billing/status"


@pytest.fixture(scope="session")
def apple_chain() -> Chain:
    """One chain for the session: generating keys and certificates is the slow part."""
    return make_chain()


@pytest.fixture
def apple(settings: Any, tmp_path: Any, apple_chain: Chain) -> AppStore:
    """The App Store configured for the sandbox, trusting the test chain's root."""
    settings.APPLE_BUNDLE_ID = BUNDLE_ID
    settings.APPLE_APP_ID = APP_ID
    settings.APPLE_ENVIRONMENT = ["Sandbox"]
    settings.APPLE_ROOT_CERTIFICATES = [apple_chain.write_root(tmp_path)]
    settings.IAP_PRODUCT_PLANS = {}
    settings.WEBHOOK_MAX_RETRIES = 3
    settings.WEBHOOK_RETRY_BACKOFF_SECONDS = 0
    return AppStore(apple_chain)


def deliver(client: Any, signed_payload: str) -> Any:
    """POST a notification to the App Store webhook, as Apple does."""
    return client.post(WEBHOOK_URL, data={"signedPayload": signed_payload}, format="json")
