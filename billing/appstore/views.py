"""POST /api/v1/app/billing/iap/apple: the app links a StoreKit 2 purchase to the signed-in user."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import authenticated_user
from billing.appstore.serializers import AppleTransactionInput
from billing.appstore.services import apple_transaction_link
from billing.selectors import billing_status
from billing.serializers import BillingStatusOutput
from config.api import validated
from config.openapi import error_responses


class AppleTransactionLinkView(APIView):
    @extend_schema(
        tags=["billing"],
        operation_id="billing_iap_apple_create",
        request=AppleTransactionInput,
        responses={
            200: BillingStatusOutput,
            **error_responses(
                {
                    400: "BAD_REQUEST: the transaction does not verify (`details.reason`: "
                    "verification_failure, invalid_app_identifier, invalid_environment, "
                    "malformed…), or it is a consumable or non-renewing subscription.",
                    409: "CONFLICT: the purchase is linked to (or was made for) another user.",
                    503: "SERVICE_UNAVAILABLE: App Store purchases are not configured.",
                }
            ),
        },
        summary="Link an App Store purchase",
        description=(
            "Verifies a StoreKit 2 signed transaction and links its purchase (its original "
            "transaction id) to me: an auto-renewable subscription until its expiry, a "
            "non-consumable without end. Later changes arrive by App Store Server "
            "Notifications. Returns my billing status. Sending the same purchase again is "
            "harmless."
        ),
    )
    def post(self, request: Request) -> Response:
        data = validated(AppleTransactionInput, request.data)
        user = authenticated_user(request)
        apple_transaction_link(user=user, signed_transaction=data["signed_transaction"])
        return Response(BillingStatusOutput(billing_status(user=user)).data)
