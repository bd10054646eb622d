"""Fixtures for the Google Play tests: a fake Google configured in the settings, and pushes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.billing.googleplay import fake_google
from tests.billing.googleplay.fake_google import AUDIENCE, PACKAGE, PUSH_EMAIL, FakeGoogle
from tests.conftest import ApiClient

WEBHOOK_URL = "/api/v1/public/webhooks/google"
LINK_URL = "/api/v1/app/billing/iap/google"
STATUS_URL = "/api/v1/app/billing/status"


@pytest.fixture
def google(settings: Any) -> Iterator[FakeGoogle]:
    """Google Play and Pub/Sub push authentication configured against a running fake."""
    with FakeGoogle.running() as fake:
        settings.GOOGLE_PLAY_PACKAGE_NAME = PACKAGE
        settings.GOOGLE_PLAY_SERVICE_ACCOUNT_INFO = fake.service_account_info()
        settings.GOOGLE_PUBSUB_AUDIENCE = AUDIENCE
        settings.GOOGLE_PUBSUB_SERVICE_ACCOUNT_EMAIL = PUSH_EMAIL
        settings.GOOGLE_PUBSUB_CERTS_URL = fake.certs_url
        settings.GOOGLE_PLAY_API_BASE = fake.url
        # The default: a busy machine can take seconds to answer (the timeout test sets its own).
        settings.GOOGLE_PLAY_TIMEOUT_SECONDS = 10
        settings.IAP_PRODUCT_PLANS = {"pro_monthly": "pro", "team_yearly": "enterprise"}
        settings.WEBHOOK_MAX_RETRIES = 3
        settings.WEBHOOK_RETRY_BACKOFF_SECONDS = 0
        yield fake


def push(
    client: Any,
    notification: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    authorization: str | None = None,
    message_id: str | None = None,
    body: Any = None,
):
    """POST a Pub/Sub push to the Google endpoint with a valid token unless told otherwise.

    Sent from a client of its own: `client` may carry a user's credentials (`api.as_user`),
    which would replace the push's Authorization header.
    """
    client = ApiClient()
    if authorization is None:
        authorization = f"Bearer {token or fake_google.push_token()}"
    payload = (
        body if body is not None else fake_google.push_body(notification, message_id=message_id)
    )
    headers = {"Authorization": authorization} if authorization else {}
    return client.post(
        WEBHOOK_URL,
        data=payload if isinstance(payload, bytes) else json.dumps(payload).encode(),
        content_type="application/json",
        headers=headers,
    )
