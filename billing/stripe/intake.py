"""POST /api/v1/public/webhooks/stripe: Stripe's events, verified here, stored by the ledger.

`Stripe-Signature: t=<unix time>,v1=<hex>[,v1=<hex>…]` is verified by the stripe SDK
(`stripe.WebhookSignature.verify_header`): each `v1` an HMAC-SHA256 keyed with the endpoint's
signing secret (`STRIPE_WEBHOOK_SECRET`) over `"<t>." + raw body`, any one of which may match
(Stripe sends one per active secret while a secret is rolled). `verify_stripe_signature` adds only
what the SDK does not do: see its docstring. Nothing else authenticates a delivery: dj-stripe's
own webhook view (which, with DEBUG on, accepts an `X-Djstripe-Webhook-Secret` header instead) is
not mounted, and no header or setting bypasses this check.

The event is stored under Stripe's event id; its handlers (`billing.stripe.events`) read the
objects back from Stripe's API rather than trusting the payload's copy.
"""

from __future__ import annotations

import time

import stripe
from django.conf import settings
from rest_framework.request import Request

from config.errors import BadRequestError
from webhooks.intake import VerifiedEvent, WebhookIntakeView, parse_json_object

SIGNATURE_HEADER = "Stripe-Signature"
# Unix times have 10 digits until the year 2286; longer values are refused before int() sees them.
MAX_TIMESTAMP_DIGITS = 12


def verify_stripe_signature(
    *, payload: bytes, header: str, secret: str, tolerance: int, now: float | None = None
) -> None:
    """Raise BadRequestError unless `header` signs `payload` with `secret` within `tolerance`.

    The signature itself is the SDK's check (it ignores schemes other than `v1`, as Stripe
    advises, and compares every candidate in constant time). Around it, only what it lacks:
    - the header's one `t` must be at most MAX_TIMESTAMP_DIGITS ASCII digits (the SDK's int()
      takes any Unicode digits and thousands of them) and the header must be ASCII (the SDK's
      comparison raises TypeError on a non-ASCII signature);
    - a body that is not UTF-8 is a 400 (the SDK decodes it and would raise UnicodeDecodeError);
    - the timestamp must be within `tolerance` of now in the past *or the future*: the SDK
      refuses only stale timestamps, with an error that reads like a bad signature, so it is
      called without a tolerance and the window is checked here, after the signature;
    - errors are `BadRequestError`s with `details.reason` "timestamp" or "signature".
    """
    timestamps = [
        value for key, _, value in (item.partition("=") for item in header.split(",")) if key == "t"
    ]
    if (
        len(timestamps) != 1
        or not timestamps[0].isascii()
        or not timestamps[0].isdigit()
        or len(timestamps[0]) > MAX_TIMESTAMP_DIGITS
    ):
        raise BadRequestError(
            "Missing or malformed Stripe-Signature timestamp", details={"reason": "timestamp"}
        )
    if not header.isascii():
        raise BadRequestError("Invalid Stripe signature", details={"reason": "signature"})
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequestError("The webhook body is not valid JSON") from None
    try:
        stripe.WebhookSignature.verify_header(text, header, secret, tolerance=None)
    except stripe.SignatureVerificationError:
        raise BadRequestError("Invalid Stripe signature", details={"reason": "signature"}) from None
    current = time.time() if now is None else now
    if abs(current - int(timestamps[0])) > tolerance:
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
