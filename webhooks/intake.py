"""The intake every provider's webhook endpoint is built on: verify, store once, acknowledge.

An owning app subclasses `WebhookIntakeView` per provider and routes it itself:

    class StripeWebhookView(WebhookIntakeView):
        provider = "stripe"

        def is_configured(self) -> bool:
            return bool(settings.STRIPE_WEBHOOK_SECRET)

        def verify(self, request: Request) -> VerifiedEvent:
            ...  # check Stripe-Signature over request.body, raise BadRequestError if wrong
            return VerifiedEvent(event_id=data["id"], event_type=data["type"], payload=data)

    # billing/public_urls.py
    path("webhooks/stripe", StripeWebhookView.as_view(), name="webhooks-stripe")

and registers handlers for its event types and the allowlist of the payload fields it keeps
(see `webhooks.registry`).

Whatever the body, the answer is never a 500: a body that is not storable JSON (broken, nested
too deep, not UTF-8, `NaN`, numbers out of range, a list where an object is expected) is a 400
`BAD_REQUEST` (`parse_json_object`, `webhooks.payloads.load_json`), and so is a body nested deeply
enough to exhaust the stack in a library's decoder (a JWS payload, say) while it is verified.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.api import PublicAPIView
from config.errors import BadRequestError, ServiceUnavailableError
from config.openapi import error_responses
from webhooks.models import WebhookEvent
from webhooks.payloads import load_json
from webhooks.services import webhook_receive

ACK_STATUSES = ("queued", "processed", "duplicate", "ignored")


@dataclass(frozen=True)
class VerifiedEvent:
    """What a provider's `verify` vouches for: the event's id, its type and its parsed body.

    `event_id` is the provider's unique id of the event (≤255 characters); it is what makes a
    redelivery a duplicate. `payload` is the event's JSON: its fields that the provider's
    allowlist names are stored and handed to the handler.
    """

    event_id: str
    event_type: str
    payload: Any
    raw_body: str | None = None  # None: the request's body (several events in one request)


class WebhookAck(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=ACK_STATUSES,
        help_text=(
            "`queued`: stored, processing follows in the background. `processed` / `ignored`: "
            "stored and already handled (or no handler wants its type; `ignored` also when the "
            "delivery carried no event to store). `duplicate`: this event was received before; "
            "nothing new was stored. A delivery of several events answers for the least "
            "settled of its new ones."
        ),
    )


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; 400 when it is not one, or not JSON the ledger can store
    (`webhooks.payloads.load_json`). For `verify` implementations."""
    try:
        data = load_json(body)
    except ValueError:  # UnicodeDecodeError and json's errors included
        raise BadRequestError("The webhook body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequestError("The webhook body must be a JSON object")
    return data


def ack_status(event: WebhookEvent, *, created: bool) -> str:
    """What the provider is told about a stored event."""
    if not created:
        return "duplicate"
    if event.status == WebhookEvent.Status.PROCESSED:
        return "processed"
    if event.status == WebhookEvent.Status.IGNORED:
        return "ignored"
    # Received, processing, or failed after an eager run: stored, and retried or replayable.
    return "queued"


def ack_status_of_all(outcomes: list[tuple[WebhookEvent, bool]]) -> str:
    """What the provider is told about a delivery of several events (or of none at all).

    `duplicate` when none of them is new; otherwise the least settled outcome of the new ones
    (`queued` before `processed` before `ignored`). A delivery that carried no event to store
    (a subscription confirmation, an empty batch) is `ignored`.
    """
    if not outcomes:
        return "ignored"
    statuses = {ack_status(event, created=created) for event, created in outcomes}
    for status in ("queued", "processed", "ignored"):
        if status in statuses:
            return status
    return "duplicate"


class WebhookIntakeView(PublicAPIView):
    """Base view of a provider's webhook endpoint (public: the signature is the credential).

    Subclasses set `provider` and implement `verify`; they may override `is_configured`.
    The body reaches `verify` exactly as received: no parser runs before it. A provider that
    delivers several events in one request (a batch) implements `verify_all` instead, and one
    whose name depends on the configuration (one URL for whichever email provider is set)
    overrides `get_provider`.
    """

    provider: ClassVar[str] = ""
    parser_classes: list[Any] = []

    def is_configured(self) -> bool:
        """False answers 503 before anything is verified (e.g. the signing secret is unset)."""
        return True

    def verify(self, request: Request) -> VerifiedEvent:
        """Authenticate `request.body` (raw bytes) and the headers, and extract the event.

        Raise BadRequestError (400) for a bad signature or payload, AuthenticationError (401)
        for missing or wrong credentials (a bearer token, basic auth), ServiceUnavailableError
        (503) when configuration needed for verification is missing.
        """
        raise NotImplementedError

    def verify_all(self, request: Request) -> list[VerifiedEvent]:
        """The events of the delivery, each stored on its own (see `verify`); by default the
        one event `verify` returns. May be empty: nothing is stored, the answer is `ignored`."""
        return [self.verify(request)]

    def get_provider(self) -> str:
        """The ledger's provider name of this endpoint's events: `provider` by default."""
        return self.provider

    @extend_schema(
        tags=["webhooks"],
        request={"application/json": OpenApiTypes.OBJECT},
        responses={
            200: OpenApiResponse(
                WebhookAck, description="The event is stored (now or by an earlier delivery)."
            ),
            **error_responses(
                {
                    400: "BAD_REQUEST: the signature or the payload cannot be verified, or "
                    "the body cannot be parsed (broken JSON, nested too deep, not UTF-8); "
                    "nothing is stored.",
                    401: "AUTHENTICATION_ERROR: missing or wrong credentials (providers "
                    "that authenticate with a bearer token or HTTP basic auth).",
                    503: "SERVICE_UNAVAILABLE: this provider is not configured.",
                }
            ),
        },
        summary="Receive a webhook",
        description=(
            "Verifies the delivery on its raw body, stores the event once (a redelivery answers "
            "`duplicate`) and processes it in the background, with retries."
        ),
    )
    def post(self, request: Request) -> Response:
        provider = self.get_provider()
        if not provider:
            raise NotImplementedError(f"{type(self).__name__} must set `provider`.")
        if not self.is_configured():
            raise ServiceUnavailableError(
                f"{provider} webhooks are not configured", details={"service": provider}
            )
        try:
            verified = self.verify_all(request)
        except RecursionError:
            # A document nested deeply enough to exhaust the stack of a decoder that is not ours
            # (e.g. PyJWT's, inside the App Store library): unparsable, not a server error.
            raise BadRequestError("The webhook body is nested too deeply") from None
        raw_body = _text(request.body)
        outcomes = [
            webhook_receive(
                provider=provider,
                event_id=item.event_id,
                event_type=item.event_type,
                payload=item.payload,
                raw_body=raw_body if item.raw_body is None else item.raw_body,
            )
            for item in verified
        ]
        return Response(WebhookAck({"status": ack_status_of_all(outcomes)}).data)


def _text(body: bytes) -> str:
    """The body as text to keep; 400 for bytes no text column can hold."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequestError("The webhook body must be UTF-8 text") from None
    if "\x00" in text:
        raise BadRequestError("The webhook body must not contain NUL bytes")
    return text
