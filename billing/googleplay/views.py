"""POST /api/v1/app/billing/iap/google: link a Google Play subscription to the signed-in user."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import authenticated_user
from billing.googleplay.serializers import GooglePurchaseLinkInput
from billing.googleplay.services import google_purchase_link
from billing.selectors import billing_status
from billing.serializers import BillingStatusOutput
from config.api import validated
from config.openapi import error_responses


class GooglePurchaseLinkView(APIView):
    @extend_schema(
        tags=["billing"],
        operation_id="billing_iap_google_create",
        request=GooglePurchaseLinkInput,
        responses={
            200: BillingStatusOutput,
            **error_responses(
                {
                    400: "BAD_REQUEST: Google Play does not know this purchase token for this "
                    "app, the purchase is not of `subscription_id`, or it is not paid for yet "
                    "(`details.reason = pending`: link it again once it is).",
                    409: "CONFLICT: the purchase is linked to, or was bought from, another "
                    "account.",
                    502: "EXTERNAL_SERVICE_ERROR: Google Play failed.",
                    503: "SERVICE_UNAVAILABLE: Google Play billing is not configured.",
                    504: "GATEWAY_TIMEOUT: Google Play did not answer in time.",
                }
            ),
        },
        summary="Link a Google Play subscription",
        description=(
            "Verifies the purchase with the Google Play Developer API, links it to me, "
            "acknowledges it with Google Play if needed, and returns my billing status. Safe to "
            "call again (e.g. on every app start, to restore purchases). Later changes arrive "
            "through Play's notifications. Launch purchases with my user id as "
            "`obfuscatedAccountId` so notifications find me even before this call."
        ),
    )
    def post(self, request: Request) -> Response:
        data = validated(GooglePurchaseLinkInput, request.data)
        user = authenticated_user(request)
        google_purchase_link(
            user=user,
            purchase_token=data["purchase_token"],
            subscription_id=data["subscription_id"],
        )
        return Response(BillingStatusOutput(billing_status(user=user)).data)
