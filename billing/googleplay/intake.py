"""POST /api/v1/public/webhooks/google: Google Play's real-time developer notifications.

Play publishes each notification to a Pub/Sub topic; a push subscription with authentication
delivers it here as

    {"message": {"data": <base64 JSON>, "messageId", "publishTime", "attributes"},
     "subscription": "projects/…/subscriptions/…"}

with `Authorization: Bearer <OIDC token>`. The token is checked first (401 when missing or not
Google's token for our audience and push service account, see below), then the body: not a
push, or `data` not base64 of a JSON object → 400; a notification for another app
(`packageName` ≠ GOOGLE_PLAY_PACKAGE_NAME) → 400. Pub/Sub delivers at least once; the ledger
stores each `messageId` once, so a redelivery answers `duplicate`.

The push token is an RS256 token signed by Google, whose public keys are published as a map of
key id → x509 PEM certificate at `GOOGLE_PUBSUB_CERTS_URL`. It is accepted when its signature
verifies with the certificate named by its `kid`, it is within its `iat`/`exp` window, its `aud`
is `GOOGLE_PUBSUB_AUDIENCE`, its issuer is `accounts.google.com` (with or without `https://`),
and its `email` is `GOOGLE_PUBSUB_SERVICE_ACCOUNT_EMAIL` with `email_verified` true. Anything
else is 401. google-auth's `id_token.verify_token` downloads the certificates on every call, so
they are kept per process instead (`config.keysets`: for the `max-age` of the answer, fetched
again early for an unknown `kid` at most once a minute). The check itself is google-auth's
`jwt.decode`, always with the audience (it skips that check for `audience=None`). When the
certificates cannot be fetched and none usable are cached, the answer is 503.

The event type names what the notification is about: `subscription.<NOTIFICATION_TYPE>` (for
example `subscription.SUBSCRIPTION_RENEWED`; `subscription.UNKNOWN` for a code not listed
below), `voided_purchase`, `one_time_product`, `pending_refund_review`, `test`, or `unknown`.
The handlers (`billing.googleplay.events`) read the purchase back from Play; types without a handler
(`test`, one-time products) are stored and end `ignored`, which acknowledges them.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework.request import Request

from billing.googleplay import client as play
from billing.googleplay.services import PURCHASE_TOKEN_MAX_LENGTH
from config.errors import AuthenticationError, BadRequestError, ServiceUnavailableError
from config.keysets import KeySet, parse_pem_map, shared_key_set
from webhooks.intake import VerifiedEvent, WebhookIntakeView, parse_json_object
from webhooks.payloads import load_json

logger = logging.getLogger(__name__)

PUBSUB_SERVICE = "google_pubsub"
PUBSUB_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
PUBSUB_ALGORITHM = "RS256"
# Seconds between downloads triggered by an unknown key id.
UNKNOWN_KID_REFETCH_SECONDS = 60.0
CLOCK_SKEW_SECONDS = 30

# SubscriptionNotification.notificationType codes (Play's real-time developer notifications).
SUBSCRIPTION_NOTIFICATION_TYPES: dict[int, str] = {
    1: "SUBSCRIPTION_RECOVERED",
    2: "SUBSCRIPTION_RENEWED",
    3: "SUBSCRIPTION_CANCELED",
    4: "SUBSCRIPTION_PURCHASED",
    5: "SUBSCRIPTION_ON_HOLD",
    6: "SUBSCRIPTION_IN_GRACE_PERIOD",
    7: "SUBSCRIPTION_RESTARTED",
    8: "SUBSCRIPTION_PRICE_CHANGE_CONFIRMED",
    9: "SUBSCRIPTION_DEFERRED",
    10: "SUBSCRIPTION_PAUSED",
    11: "SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED",
    12: "SUBSCRIPTION_REVOKED",
    13: "SUBSCRIPTION_EXPIRED",
    17: "SUBSCRIPTION_ITEMS_CHANGED",
    18: "SUBSCRIPTION_CANCELLATION_SCHEDULED",
    19: "SUBSCRIPTION_PRICE_CHANGE_UPDATED",
    20: "SUBSCRIPTION_PENDING_PURCHASE_CANCELED",
    22: "SUBSCRIPTION_PRICE_STEP_UP_CONSENT_UPDATED",
}
SUBSCRIPTION_PREFIX = "subscription."
UNKNOWN_SUBSCRIPTION_TYPE = "subscription.UNKNOWN"
VOIDED_PURCHASE = "voided_purchase"
ONE_TIME_PRODUCT = "one_time_product"
PENDING_REFUND_REVIEW = "pending_refund_review"
TEST = "test"
UNKNOWN = "unknown"
# Notifications that name a purchase token the handlers read back.
TOKEN_BEARING = ("subscriptionNotification", "voidedPurchaseNotification")


def pubsub_certificates() -> KeySet[str]:
    """Google's token certificates (PEM by key id), cached per process (`config.keysets`)."""
    return shared_key_set(
        settings.GOOGLE_PUBSUB_CERTS_URL,
        parse=parse_pem_map,
        service=PUBSUB_SERVICE,
        timeout=settings.GOOGLE_PLAY_TIMEOUT_SECONDS,
        min_refresh_seconds=UNKNOWN_KID_REFETCH_SECONDS,
        unavailable_message="Google's token certificates could not be fetched",
        unreadable_message="Google's token certificates could not be read",
        not_http_message="The Pub/Sub certificate URL is not an HTTP URL",
    )


def _unauthenticated(reason: str) -> AuthenticationError:
    return AuthenticationError("Invalid Pub/Sub push token", details={"reason": reason})


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer …` header; 401 when there is none."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError(
            "A Pub/Sub push token is required", details={"reason": "missing_token"}
        )
    return token


def verify_push_token(token: str) -> Mapping[str, Any]:
    """The claims of a verified Pub/Sub push token; 401 unless it is valid (see the module).

    503 when the certificates are needed and cannot be fetched.
    """
    audience: str = settings.GOOGLE_PUBSUB_AUDIENCE
    email: str = settings.GOOGLE_PUBSUB_SERVICE_ACCOUNT_EMAIL
    if not audience or not email:
        raise ServiceUnavailableError(
            "Pub/Sub push authentication is not configured", details={"service": PUBSUB_SERVICE}
        )
    # google-auth is imported when a push arrives, not in every web worker.
    from google.auth import exceptions as google_exceptions
    from google.auth import jwt as google_jwt

    try:
        header = google_jwt.decode_header(token)
    except (google_exceptions.GoogleAuthError, ValueError, TypeError):
        raise _unauthenticated("malformed") from None
    kid = header.get("kid") if isinstance(header, Mapping) else None
    if header.get("alg") != PUBSUB_ALGORITHM or not isinstance(kid, str) or not kid:
        raise _unauthenticated("algorithm")
    certificate = pubsub_certificates().get(kid)
    if certificate is None:
        raise _unauthenticated("unknown_key")
    try:
        claims = google_jwt.decode(
            token,
            certs={kid: certificate},
            audience=audience,
            clock_skew_in_seconds=CLOCK_SKEW_SECONDS,
        )
    except (google_exceptions.GoogleAuthError, ValueError, TypeError, KeyError) as error:
        logger.info("pubsub push token refused: %s", error)
        raise _unauthenticated("invalid") from None
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or issuer not in PUBSUB_ISSUERS:
        raise _unauthenticated("issuer")
    if claims.get("email") != email or claims.get("email_verified") not in (True, "true"):
        raise _unauthenticated("email")
    return claims


def subscription_event_type(code: Any) -> str:
    """`subscription.<NAME>` of a notificationType code (`subscription.UNKNOWN` if unlisted)."""
    if isinstance(code, int) and not isinstance(code, bool):
        name = SUBSCRIPTION_NOTIFICATION_TYPES.get(code)
        if name:
            return SUBSCRIPTION_PREFIX + name
    return UNKNOWN_SUBSCRIPTION_TYPE


def notification_event_type(notification: dict[str, Any]) -> str:
    """The ledger's event type of a decoded DeveloperNotification (see the module)."""
    subscription = notification.get("subscriptionNotification")
    if isinstance(subscription, dict):
        return subscription_event_type(subscription.get("notificationType"))
    if isinstance(notification.get("voidedPurchaseNotification"), dict):
        return VOIDED_PURCHASE
    if isinstance(notification.get("oneTimeProductNotification"), dict):
        return ONE_TIME_PRODUCT
    if isinstance(notification.get("pendingRefundReviewNotification"), dict):
        return PENDING_REFUND_REVIEW
    if isinstance(notification.get("testNotification"), dict):
        return TEST
    return UNKNOWN


def decode_push(body: bytes) -> dict[str, Any]:
    """The Pub/Sub push as the ledger keeps it; 400 when the body is not a Play notification.

    Returns `{"message_id", "publish_time", "subscription", "attributes", "notification"}`,
    `notification` being the decoded DeveloperNotification.
    """
    push = parse_json_object(body)
    message = push.get("message")
    if not isinstance(message, dict):
        raise BadRequestError("The body is not a Pub/Sub push", details={"field": "message"})
    message_id = message.get("messageId") or message.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        raise BadRequestError(
            "The Pub/Sub message has no messageId", details={"field": "message.messageId"}
        )
    data = message.get("data")
    if not isinstance(data, str) or not data:
        raise BadRequestError("The Pub/Sub message has no data", details={"field": "message.data"})
    try:
        notification = load_json(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        raise BadRequestError(
            "The Pub/Sub message data is not base64-encoded JSON",
            details={"field": "message.data"},
        ) from None
    if not isinstance(notification, dict):
        raise BadRequestError(
            "The notification must be a JSON object", details={"field": "message.data"}
        )
    if notification.get("packageName") != settings.GOOGLE_PLAY_PACKAGE_NAME:
        raise BadRequestError(
            "The notification is for another app", details={"field": "packageName"}
        )
    for kind in TOKEN_BEARING:
        inner = notification.get(kind)
        if isinstance(inner, dict):
            token = inner.get("purchaseToken")
            if not isinstance(token, str) or not 0 < len(token) <= PURCHASE_TOKEN_MAX_LENGTH:
                raise BadRequestError(
                    "The notification has no usable purchaseToken",
                    details={"field": f"{kind}.purchaseToken"},
                )
    attributes = message.get("attributes")
    publish_time = message.get("publishTime")
    subscription = push.get("subscription")
    return {
        "message_id": message_id,
        "publish_time": publish_time if isinstance(publish_time, str) else None,
        "subscription": subscription if isinstance(subscription, str) else None,
        "attributes": attributes if isinstance(attributes, dict) else {},
        "notification": notification,
    }


class GoogleWebhookView(WebhookIntakeView):
    """Google Play's notification endpoint (a Pub/Sub push subscription with authentication)."""

    provider = "google"

    def is_configured(self) -> bool:
        return bool(
            play.is_configured()
            and settings.GOOGLE_PUBSUB_AUDIENCE
            and settings.GOOGLE_PUBSUB_SERVICE_ACCOUNT_EMAIL
        )

    def verify(self, request: Request) -> VerifiedEvent:
        verify_push_token(bearer_token(request.headers.get("Authorization")))
        payload = decode_push(request.body)
        return VerifiedEvent(
            event_id=payload["message_id"],
            event_type=notification_event_type(payload["notification"]),
            payload=payload,
        )
