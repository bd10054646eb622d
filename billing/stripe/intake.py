"""POST /api/v1/public/webhooks/stripe: Stripe's events, verified here, stored by the ledger.

The signature is checked exactly as Stripe specifies it: `Stripe-Signature: t=<unix time>,
v1=<hex>[,v1=<hex>…]`, each `v1` an HMAC-SHA256 keyed with the endpoint's signing secret
(`STRIPE_WEBHOOK_SECRET`) over `"<t>." + raw body`. Any one `v1` may match (Stripe sends one per
active secret while a secret is rolled); the timestamp must be within
`STRIPE_WEBHOOK_TOLERANCE_SECONDS` of now, in the past or in the future. Nothing else
authenticates a delivery: dj-stripe's own webhook view (which, with DEBUG on, accepts an
`X-Djstripe-Webhook-Secret` header instead) is not mounted, and no header or setting bypasses
this check.

The event is stored under Stripe's event id; its handlers (`billing.stripe.events`) read the
objects back from Stripe's API rather than trusting the payload's copy.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from django.conf import settings
from rest_framework.request import Request

from config.errors import BadRequestError
from webhooks.intake import VerifiedEvent, WebhookIntakeView, parse_json_object

SIGNATURE_HEADER = "Stripe-Signature"
SIGNATURE_SCHEME = "v1"
# Unix times have 10 digits until the year 2286; longer values are refused before int() sees them.
MAX_TIMESTAMP_DIGITS = 12


def stripe_signature(*, payload: bytes, timestamp: int, secret: str) -> str:
    """The hex `v1` signature Stripe computes for `payload` sent at `timestamp`."""
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify_stripe_signature(
    *, payload: bytes, header: str, secret: str, tolerance: int, now: float | None = None
) -> None:
    """Raise BadRequestError unless `header` signs `payload` with `secret` within `tolerance`.

    Unknown schemes in the header (`v0`, future ones) are ignored, as Stripe advises.
    """
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        key, separator, value = item.strip().partition("=")
        if not separator:
            continue
        if key == "t":
            timestamps.append(value)
        elif key == SIGNATURE_SCHEME:
            signatures.append(value)
    if (
        len(timestamps) != 1
        or not timestamps[0].isascii()
        or not timestamps[0].isdigit()
        or len(timestamps[0]) > MAX_TIMESTAMP_DIGITS
    ):
        raise BadRequestError(
            "Missing or malformed Stripe-Signature timestamp", details={"reason": "timestamp"}
        )
    if not signatures:
        raise BadRequestError(
            "No v1 signature in Stripe-Signature", details={"reason": "signature"}
        )
    timestamp = int(timestamps[0])
    expected = stripe_signature(payload=payload, timestamp=timestamp, secret=secret)
    # Every candidate is compared (no early exit), each in constant time.
    # Bytes, because compare_digest refuses str holding non-ASCII characters.
    matches = [
        hmac.compare_digest(expected.encode(), candidate.encode(errors="replace"))
        for candidate in signatures
    ]
    if not any(matches):
        raise BadRequestError("Invalid Stripe signature", details={"reason": "signature"})
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise BadRequestError(
            "Stripe-Signature timestamp outside the tolerance", details={"reason": "timestamp"}
        )


class StripeWebhookView(WebhookIntakeView):
    """Stripe's webhook endpoint (configure it in Stripe's dashboard with its signing secret)."""

    provider = "stripe"

    def is_configured(self) -> bool:
        return bool(settings.STRIPE_WEBHOOK_SECRET and settings.STRIPE_SECRET_KEY)

    def verify(self, request: Request) -> VerifiedEvent:
        body: bytes = request.body
        verify_stripe_signature(
            payload=body,
            header=request.headers.get(SIGNATURE_HEADER, ""),
            secret=settings.STRIPE_WEBHOOK_SECRET,
            tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
        )
        data = parse_json_object(body)
        event_id, event_type = data.get("id"), data.get("type")
        if (
            data.get("object") != "event"
            or not isinstance(event_id, str)
            or not event_id.startswith("evt_")
            or not isinstance(event_type, str)
        ):
            raise BadRequestError("The body is not a Stripe event")
        return VerifiedEvent(event_id=event_id, event_type=event_type, payload=data)
