"""POST /api/v1/public/webhooks/apple: App Store Server Notifications V2, verified, then stored.

Apple POSTs `{"signedPayload": "<JWS>"}`. The JWS, its x5c chain and its nested signed
transaction and renewal info are verified by `billing.appstore.client.verify_notification` against
APPLE_ROOT_CERTIFICATES, APPLE_BUNDLE_ID, APPLE_APP_ID and APPLE_ENVIRONMENT; anything that does
not verify is 400 and stores nothing. Without a bundle id or root certificates the endpoint is
503.

The event is stored under the `notificationUUID` (a redelivery is a `duplicate`), with the
notification type as its type and, as its payload, the decoded notification with the decoded
transaction and renewal info inlined (`data.transactionInfo`, `data.renewalInfo`); the raw body
keeps the original JWS. Handlers: `billing.appstore.events`.
"""

from __future__ import annotations

from rest_framework.request import Request

from billing.appstore.client import apple_configured, verify_notification
from config.errors import BadRequestError
from webhooks.intake import VerifiedEvent, WebhookIntakeView, parse_json_object


class AppleWebhookView(WebhookIntakeView):
    """The App Store Server Notifications V2 URL (set it in App Store Connect)."""

    provider = "apple"

    def is_configured(self) -> bool:
        return apple_configured()

    def verify(self, request: Request) -> VerifiedEvent:
        body: bytes = request.body
        signed_payload = parse_json_object(body).get("signedPayload")
        if not isinstance(signed_payload, str) or not signed_payload:
            raise BadRequestError(
                "The body must carry a signedPayload string", details={"reason": "malformed"}
            )
        notification = verify_notification(signed_payload)
        return VerifiedEvent(
            event_id=notification.notification_uuid,
            event_type=notification.notification_type,
            payload=notification.payload,
        )
