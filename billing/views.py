"""/api/v1/app/billing: the signed-in user's plan and the plans for sale. Stripe's own endpoints
(checkout, portal, cancel, resume, invoices) are in `billing.stripe.views`, the stores' link
endpoints in `billing.appstore.views` and `billing.googleplay.views`."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import authenticated_user
from billing.selectors import billing_status, plan_offers
from billing.serializers import BillingStatusOutput, PlanOfferOutput


class BillingStatusView(APIView):
    @extend_schema(
        tags=["billing"],
        operation_id="billing_status_retrieve",
        responses=BillingStatusOutput,
        summary="Get my billing status",
        description=(
            "The plan in effect and where it comes from (Stripe, the App Store, Google Play or a "
            "grant by staff), read from the database. The best entitlement that is active, "
            "trialing, past due or in a grace period decides; without one the plan is `free` "
            "with status `none`."
        ),
    )
    def get(self, request: Request) -> Response:
        status = billing_status(user=authenticated_user(request))
        return Response(BillingStatusOutput(status).data)


class BillingPlansView(APIView):
    @extend_schema(
        tags=["billing"],
        operation_id="billing_plans_list",
        responses=PlanOfferOutput(many=True),
        summary="List the plans for sale",
        description=(
            "Each paid plan at each billing interval, with its price and limits. The free plan "
            "is not for sale and not listed. With Stripe configured, the prices are those of "
            "its prices as last synced."
        ),
    )
    def get(self, request: Request) -> Response:
        return Response(PlanOfferOutput(plan_offers(), many=True).data)
