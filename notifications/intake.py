"""POST /api/v1/public/webhooks/email: the email provider's delivery-status (tracking) webhook.

One URL for whichever EMAIL_PROVIDER is configured (postmark, resend, sendgrid, ses); configure it
in the provider as its event (tracking) webhook. Each request is verified exactly as
django-anymail verifies that provider's tracking webhook, by anymail's own view class
(`ESP_VIEWS`): its validators, then its `parse_events`, which turns the provider's payload into
normalised `AnymailTrackingEvent`s. What each provider's request must carry:

- HTTP basic auth `EMAIL_WEBHOOK_SECRET` (anymail's WEBHOOK_SECRET, `user:password`, written into
  the webhook URL): the only credential of Postmark and of SES (SNS notifications), and accepted
  by the others. Missing or wrong: 401 with a `WWW-Authenticate: Basic` challenge (SNS sends the
  credentials only after one).
- Resend: the Svix signature headers, checked with RESEND_SIGNING_SECRET when it is set.
- SendGrid's signed event webhook: the ECDSA signature headers, checked with
  SENDGRID_WEBHOOK_VERIFICATION_KEY when it is set.
- SES: anymail 15.2 checks the SNS headers against the body, not the SNS signature; basic auth is
  what authenticates it. A subscription confirmation is confirmed through the SNS API (anymail's
  auto-confirmation, after basic auth passed) and stores nothing.

When neither the basic-auth secret nor the provider's own signing key is set, or the provider
sends no tracking webhooks (console, smtp), the endpoint answers 503.

Each tracking event is stored once in the webhook ledger: provider = EMAIL_PROVIDER's name, event
id = the provider's (Postmark's bounce id, SendGrid's `sg_event_id`, Resend's `svix-id`, the SNS
message id) or, when it gives none (Postmark's deliveries), the SHA-256 of the event's JSON, so a
redelivery is a duplicate; event type = anymail's normalised type (`delivered`, `bounced`,
`complained`, ...). One request may carry several events (SendGrid's batches, one SES event per
recipient). The ledger keeps the normalised fields only (`TRACKING_FIELDS`): the recipient and
the provider's descriptions are personal data, scrubbed when the user is erased; the subject of
an event is the provider's message id. Handlers: `notifications.events`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

from anymail.exceptions import AnymailError, AnymailWebhookValidationFailure
from anymail.signals import AnymailTrackingEvent
from anymail.utils import get_anymail_setting
from anymail.webhooks.base import AnymailBasicAuthMixin, AnymailCoreWebhookView
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from rest_framework.request import Request

from config.errors import AuthenticationError, BadRequestError, ServiceUnavailableError
from notifications.services import TRACKING_PROVIDERS
from webhooks.intake import VerifiedEvent, WebhookIntakeView
from webhooks.models import EVENT_ID_MAX_LENGTH
from webhooks.payloads import KEEP, PERSONAL, load_json
from webhooks.registry import register_payload

logger = logging.getLogger(__name__)

# EMAIL_PROVIDER → anymail's tracking webhook view for that provider. Imported by name when a
# webhook arrives: Resend's pulls in svix and pydantic, SES's boto3 (together some 19 MiB that
# every web worker carried).
ESP_VIEWS: dict[str, str] = {
    "postmark": "anymail.webhooks.postmark.PostmarkTrackingWebhookView",
    "resend": "anymail.webhooks.resend.ResendTrackingWebhookView",
    "sendgrid": "anymail.webhooks.sendgrid.SendGridTrackingWebhookView",
    "ses": "anymail.webhooks.amazon_ses.AmazonSESTrackingWebhookView",
}
# The ledger's provider name while EMAIL_PROVIDER sends no tracking webhooks (the 503's).
UNTRACKED = "email"
BASIC_AUTH_CHALLENGE = {"WWW-Authenticate": 'Basic realm="email webhooks"'}

# What the ledger keeps of a tracking event: anymail's normalised fields that the handlers read.
TRACKING_FIELDS = {
    **dict.fromkeys(
        ("event_type", "message_id", "timestamp", "reject_reason", "permanent", "esp_event_id"),
        KEEP,
    ),
    # The address, and texts that often quote it ("550 5.1.1 <ada@example.com>: unknown").
    **dict.fromkeys(("recipient", "description", "mta_response"), PERSONAL),
}


def tracking_subject(payload: Any) -> str | None:
    """Whom a tracking event is about: the provider's id of the email (the erasure finds the
    events of a user's emails by it)."""
    value = payload.get("message_id") if isinstance(payload, Mapping) else None
    return value if isinstance(value, str) and value else None


def register_payloads() -> None:
    """Declare what the ledger keeps of each email provider's tracking events."""
    for provider in TRACKING_PROVIDERS:
        register_payload(provider, fields=TRACKING_FIELDS, subject=tracking_subject)


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def bounce_is_permanent(provider: str, esp_event: Any) -> bool:
    """Whether the provider calls this bounce permanent (a hard bounce), in its own terms.

    anymail reports hard and soft bounces alike as `bounced` (Postmark's SoftBounce too, and
    SendGrid's bounces without a reject reason), so the provider's own classification decides.
    """
    if provider == "postmark":
        return _dig(esp_event, "Type") == "HardBounce"
    if provider == "sendgrid":
        # `type` is "bounce" for a hard bounce and "blocked" for a block (a soft bounce); older
        # events have no `type` and report hard bounces only.
        return _dig(esp_event, "event") == "bounce" and _dig(esp_event, "type") in (None, "bounce")
    if provider == "resend":
        return _dig(esp_event, "data", "bounce", "type") == "Permanent"
    if provider == "ses":
        return _dig(esp_event, "bounce", "bounceType") == "Permanent"
    return False


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _event_json(esp_event: Any) -> str:
    return json.dumps(esp_event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _event_ids(events: list[AnymailTrackingEvent]) -> list[str]:
    """The ledger ids of a delivery's events: the provider's event id, else the digest of the
    event's JSON. Events of one delivery that share an id (one SNS notification for several
    recipients) get their position among them appended; ids too long for the ledger are
    replaced by their digest."""
    bases = [
        str(event.event_id)
        if event.event_id
        else f"sha256:{hashlib.sha256(_event_json(event.esp_event).encode()).hexdigest()}"
        for event in events
    ]
    shared = {base for base, count in Counter(bases).items() if count > 1}
    seen: Counter[str] = Counter()
    ids = []
    for base in bases:
        event_id = base
        if base in shared:
            seen[base] += 1
            event_id = f"{base}#{seen[base]}"
        if len(event_id) > EVENT_ID_MAX_LENGTH:
            event_id = f"sha256:{hashlib.sha256(event_id.encode()).hexdigest()}"
        ids.append(event_id)
    return ids


def tracking_payload(provider: str, event: AnymailTrackingEvent) -> dict[str, Any]:
    """What is stored of one normalised tracking event (see TRACKING_FIELDS)."""
    return {
        "event_type": event.event_type,
        "message_id": _text(event.message_id),
        "timestamp": event.timestamp.isoformat() if event.timestamp else None,
        "recipient": _text(event.recipient),
        "reject_reason": _text(event.reject_reason),
        "permanent": event.event_type == "bounced"
        and bounce_is_permanent(provider, event.esp_event),
        "description": _text(event.description),
        "mta_response": _text(event.mta_response),
        "esp_event_id": _text(event.event_id),
    }


def tracking_configured(provider: str) -> bool:
    """Whether `provider`'s tracking webhook can be verified: the basic-auth secret, or its own
    signing key (Resend's Svix secret, SendGrid's public key), as anymail reads them."""
    if provider not in ESP_VIEWS:
        return False
    if get_anymail_setting("webhook_secret", default=None):
        return True
    if provider == "resend":
        return bool(get_anymail_setting("signing_secret", esp_name="Resend", default=None))
    if provider == "sendgrid":
        return bool(
            get_anymail_setting(
                "tracking_webhook_verification_key",
                esp_name="SendGrid",
                default=None,
                allow_bare=True,
            )
        )
    return False


def esp_view(provider: str) -> type[AnymailCoreWebhookView]:
    """anymail's tracking webhook view class for `provider` (a key of ESP_VIEWS)."""
    view: type[AnymailCoreWebhookView] = import_string(ESP_VIEWS[provider])
    return view


def sns_errors(provider: str) -> tuple[type[Exception], ...]:
    """The errors of confirming an SNS subscription (boto3's), for SES only."""
    if provider != "ses":
        return ()
    from botocore.exceptions import BotoCoreError, ClientError

    return BotoCoreError, ClientError


class EmailTrackingWebhookView(WebhookIntakeView):
    """The configured email provider's tracking webhook (delivered, bounced, complained, ...)."""

    provider = UNTRACKED

    def get_provider(self) -> str:
        provider: str = settings.EMAIL_PROVIDER
        return provider if provider in ESP_VIEWS else UNTRACKED

    def is_configured(self) -> bool:
        return tracking_configured(self.get_provider())

    def verify_all(self, request: Request) -> list[VerifiedEvent]:
        provider = self.get_provider()
        http_request = request._request  # anymail reads Django's request: body, META, headers
        try:
            view = esp_view(provider)()
        except (AnymailError, ImproperlyConfigured, ValueError, TypeError) as error:
            # A malformed signing secret or public key in the settings.
            logger.error("email tracking webhook misconfigured: %s", error)
            raise ServiceUnavailableError(
                f"{provider} webhooks are misconfigured", details={"service": provider}
            ) from None
        for validator in view.validators:
            try:
                validator(view, http_request)
            except AnymailWebhookValidationFailure as error:
                if validator is AnymailBasicAuthMixin.validate_request:
                    raise AuthenticationError(
                        "Missing or wrong webhook credentials", headers=BASIC_AUTH_CHALLENGE
                    ) from None
                raise BadRequestError(
                    "The webhook cannot be verified", details={"reason": str(error)}
                ) from None
            except (AnymailError, ValueError) as error:  # an SNS body that is not SNS
                raise BadRequestError(
                    "The webhook body is not a tracking event", details={"reason": str(error)}
                ) from None
        try:
            load_json(request.body)  # JSON the ledger can store, before anymail parses it
        except ValueError:
            raise BadRequestError("The webhook body is not valid JSON") from None
        try:
            events = [
                event
                for event in view.parse_events(http_request)
                if isinstance(event, AnymailTrackingEvent)
            ]
        except sns_errors(provider) as error:
            # SES: confirming the SNS subscription failed; SNS sends the confirmation again.
            logger.warning("SNS subscription confirmation failed: %s", error)
            raise ServiceUnavailableError(
                "The SNS subscription could not be confirmed", details={"service": provider}
            ) from None
        except (
            AnymailError,
            AttributeError,  # a field of the wrong JSON type (anymail expects its provider's)
            ImproperlyConfigured,
            LookupError,
            TypeError,
            ValueError,
        ) as error:
            raise BadRequestError(
                "The webhook body is not a tracking event", details={"reason": str(error)}
            ) from None
        several = len(events) > 1
        return [
            VerifiedEvent(
                event_id=event_id,
                event_type=str(event.event_type),
                payload=tracking_payload(provider, event),
                raw_body=_event_json(event.esp_event) if several else None,
            )
            for event_id, event in zip(_event_ids(events), events, strict=True)
        ]
