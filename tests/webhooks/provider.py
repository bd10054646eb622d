"""A provider that exists only in the tests: HMAC-SHA256 over the raw body, like Stripe or Svix.

Deliveries carry `X-Test-Signature: sha256=<hex digest of the body>`, keyed with the setting
`TEST_WEBHOOK_SECRET`; the body is `{"id", "type", ...}`. Without the secret the provider is not
configured (503). A second endpoint takes the secret as a bearer token instead.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from django.conf import settings
from rest_framework.request import Request

from config.errors import AuthenticationError, BadRequestError
from webhooks.intake import VerifiedEvent, WebhookIntakeView, parse_json_object

PROVIDER = "test"
PATH = "/api/v1/public/webhooks/test"
BEARER_PATH = "/api/v1/public/webhooks/test-bearer"
SECRET = "test-webhook-signing-secret"
SIGNATURE_HEADER = "X-Test-Signature"


def sign(body: bytes, secret: str = SECRET) -> str:
    """The signature header value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_delivery(client: Any, body: bytes, *, signature: str | None = None) -> Any:
    """POST a delivery with Django's test client, signed over `body` unless a signature is given."""
    headers = {SIGNATURE_HEADER: sign(body) if signature is None else signature}
    return client.post(PATH, data=body, content_type="application/json", headers=headers)


def delivery(event_id: str, event_type: str = "thing.happened", **data: Any) -> bytes:
    """A body as the provider sends it."""
    return json.dumps({"id": event_id, "type": event_type, "data": data}).encode()


def _secret() -> str:
    return str(getattr(settings, "TEST_WEBHOOK_SECRET", ""))


class SignedWebhookView(WebhookIntakeView):
    provider = PROVIDER

    def is_configured(self) -> bool:
        return bool(_secret())

    def verify(self, request: Request) -> VerifiedEvent:
        body: bytes = request.body
        received = request.headers.get(SIGNATURE_HEADER, "")
        if not hmac.compare_digest(received, sign(body, _secret())):
            raise BadRequestError("Invalid webhook signature")
        data = parse_json_object(body)
        event_id, event_type = data.get("id"), data.get("type")
        if not isinstance(event_id, str) or not isinstance(event_type, str):
            raise BadRequestError("The event has no id or type")
        return VerifiedEvent(event_id=event_id, event_type=event_type, payload=data)


class BearerWebhookView(SignedWebhookView):
    """The same provider authenticating with `Authorization: Bearer <secret>` (like Supabase)."""

    def verify(self, request: Request) -> VerifiedEvent:
        expected = f"Bearer {_secret()}"
        if not hmac.compare_digest(request.headers.get("Authorization", ""), expected):
            raise AuthenticationError("Missing or wrong webhook bearer token")
        data = parse_json_object(request.body)
        return VerifiedEvent(event_id=str(data.get("id")), event_type="bearer.event", payload=data)
