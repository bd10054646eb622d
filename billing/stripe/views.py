"""/api/v1/app/billing with Stripe: checkout, the customer portal, cancel, resume, invoices."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import authenticated_user
from billing.stripe.selectors import invoice_list
from billing.stripe.serializers import (
    CancelOutput,
    CancelQuery,
    CheckoutInput,
    CheckoutOutput,
    InvoiceListQuery,
    InvoiceOutput,
    PortalOutput,
    PortalQuery,
    ResumeOutput,
)
from billing.stripe.services import (
    stripe_checkout_start,
    stripe_portal_open,
    stripe_subscription_cancel,
    stripe_subscription_resume,
)
from config.api import validated
from config.errors import ValidationError
from config.openapi import error_responses

IDEMPOTENCY_KEY_MAX_LENGTH = 255

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {
        "type": "string",
        "minLength": 1,
        "maxLength": IDEMPOTENCY_KEY_MAX_LENGTH,
        "pattern": "^[!-~](?:[ -~]*[!-~])?$",
    },
    OpenApiParameter.HEADER,
    description=(
        "Optional, up to 255 printable ASCII characters (a UUID is a good choice). Sending the "
        "same key again repeats the first answer instead of acting twice; reusing it for other "
        "parameters is 409. Without it, an identical request shortly after the first counts as "
        "a retry."
    ),
)

STRIPE_ERRORS = error_responses(
    {
        409: "CONFLICT: this Idempotency-Key was used before for a different request.",
        502: "EXTERNAL_SERVICE_ERROR: Stripe failed.",
        503: "SERVICE_UNAVAILABLE: Stripe billing is not configured.",
        504: "GATEWAY_TIMEOUT: Stripe did not answer.",
    }
)


def stripe_responses(ok: Any, state_error: str) -> dict[int, Any]:
    """The responses of a Stripe action: `ok` (200), the 400 for the state that forbids it
    (`state_error`), and the Stripe errors."""
    return {200: ok, **error_responses({400: f"BAD_REQUEST: {state_error}"}), **STRIPE_ERRORS}


def client_idempotency_key(request: Request) -> str | None:
    """The request's `Idempotency-Key` header, if any; 422 when it is not a usable key."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not (0 < len(key) <= IDEMPOTENCY_KEY_MAX_LENGTH and key.isascii() and key.isprintable()):
        raise ValidationError(
            [
                {
                    "field": "Idempotency-Key",
                    "message": "Must be 1 to 255 printable ASCII characters.",
                    "code": "invalid",
                }
            ]
        )
    return key


class BillingInvoicesView(APIView):
    @extend_schema(
        tags=["billing"],
        operation_id="billing_invoices_list",
        parameters=[InvoiceListQuery],
        responses=InvoiceOutput(many=True),
        summary="List my invoices",
        description=(
            "My Stripe invoices, newest first, as a bare array (not a page), read from the "
            "database as Stripe's events last updated them."
        ),
    )
    def get(self, request: Request) -> Response:
        params = validated(InvoiceListQuery, request.query_params)
        invoices = invoice_list(user=authenticated_user(request), limit=params["limit"])
        return Response(InvoiceOutput(invoices, many=True).data)


class BillingCheckoutView(APIView):
    @extend_schema(
        tags=["billing"],
        operation_id="billing_checkout_create",
        parameters=[IDEMPOTENCY_KEY],
        request=CheckoutInput,
        responses=stripe_responses(
            CheckoutOutput, "already subscribed (Stripe, App Store or Google Play)."
        ),
        summary="Start a Stripe Checkout",
        description=(
            "Opens a Stripe Checkout Session for the pro plan, monthly or yearly, and returns "
            "where to send the user. The Stripe customer is created on the first checkout and "
            "kept. The plan is granted when Stripe reports the subscription (webhook)."
        ),
    )
    def post(self, request: Request) -> Response:
        data = validated(CheckoutInput, request.data)
        session = stripe_checkout_start(
            user=authenticated_user(request),
            interval=data["plan"],
            success_url=data["success_url"],
            cancel_url=data["cancel_url"],
            client_key=client_idempotency_key(request),
        )
        return Response(CheckoutOutput(session).data)


class BillingPortalView(APIView):
    @extend_schema(
        tags=["billing"],
        operation_id="billing_portal_retrieve",
        parameters=[PortalQuery, IDEMPOTENCY_KEY],
        responses=stripe_responses(PortalOutput, "no billing account yet (no checkout started)."),
        summary="Open the Stripe customer portal",
        description="A short-lived URL of Stripe's Customer Portal for my billing account.",
    )
    def get(self, request: Request) -> Response:
        params = validated(PortalQuery, request.query_params)
        url = stripe_portal_open(
            user=authenticated_user(request),
            return_url=params.get("return_url"),
            client_key=client_idempotency_key(request),
        )
        return Response(PortalOutput({"url": url}).data)


class BillingCancelView(APIView):
    @extend_schema(
        tags=["billing"],
        operation_id="billing_cancel_create",
        parameters=[CancelQuery, IDEMPOTENCY_KEY],
        request=None,
        responses=stripe_responses(CancelOutput, "no active Stripe subscription."),
        summary="Cancel my Stripe subscription",
        description=(
            "At the end of the current period (default: the plan stays until then and can be "
            "resumed), or now with `immediate=true`."
        ),
    )
    def post(self, request: Request) -> Response:
        params = validated(CancelQuery, request.query_params)
        entitlement = stripe_subscription_cancel(
            user=authenticated_user(request),
            immediate=params["immediate"],
            client_key=client_idempotency_key(request),
        )
        message = (
            "Your subscription has been canceled."
            if params["immediate"]
            else "Your subscription will end at the end of the current period."
        )
        return Response(
            CancelOutput(
                {
                    "message": message,
                    "cancel_at_period_end": entitlement.cancel_at_period_end,
                    "current_period_end": entitlement.current_period_end,
                }
            ).data
        )


class BillingResumeView(APIView):
    @extend_schema(
        tags=["billing"],
        operation_id="billing_resume_create",
        parameters=[IDEMPOTENCY_KEY],
        request=None,
        responses=stripe_responses(
            ResumeOutput, "no active Stripe subscription, or it is not set to end."
        ),
        summary="Resume my Stripe subscription",
        description="Turns renewal back on for a subscription canceled at period end.",
    )
    def post(self, request: Request) -> Response:
        entitlement = stripe_subscription_resume(
            user=authenticated_user(request), client_key=client_idempotency_key(request)
        )
        return Response(
            ResumeOutput(
                {
                    "message": "Your subscription will renew.",
                    "status": entitlement.status,
                    "plan": entitlement.plan,
                }
            ).data
        )
