"""Input and output shapes of the Stripe endpoints under /billing."""

from __future__ import annotations

from rest_framework import serializers

from billing.serializers import PLANS, STATUSES
from config.serializers import QueryInput, StrictInput, TemplateURLField

REDIRECT_HELP = (
    "Absolute URL on one of the app's allowed origins (CORS_ALLOWED_ORIGINS or "
    "BILLING_REDIRECT_ORIGINS); any other origin is refused with 422."
)


class InvoiceListQuery(QueryInput):
    limit = serializers.IntegerField(
        min_value=1, max_value=100, default=10, help_text="How many invoices, newest first."
    )


class InvoiceOutput(serializers.Serializer):
    id = serializers.CharField(help_text="Stripe invoice id (in_...).")
    number = serializers.CharField(allow_null=True, help_text="Invoice number; null on drafts.")
    status = serializers.CharField(
        allow_null=True, help_text="draft, open, paid, uncollectible or void."
    )
    amount_due = serializers.IntegerField(help_text="In the currency's smallest unit (cents).")
    amount_paid = serializers.IntegerField(help_text="In the currency's smallest unit (cents).")
    currency = serializers.CharField(help_text="ISO 4217 code, lowercase.")
    created = serializers.DateTimeField(allow_null=True)
    hosted_invoice_url = serializers.URLField(
        allow_null=True, help_text="Stripe's page for the invoice; null on drafts."
    )
    invoice_pdf = serializers.URLField(allow_null=True, help_text="The PDF; null on drafts.")


class CheckoutInput(StrictInput):
    plan = serializers.ChoiceField(
        choices=["monthly", "yearly"], help_text="Billing interval of the pro plan."
    )
    success_url = TemplateURLField(max_length=2048, help_text=REDIRECT_HELP)
    cancel_url = TemplateURLField(max_length=2048, help_text=REDIRECT_HELP)


class CheckoutOutput(serializers.Serializer):
    session_id = serializers.CharField(help_text="Stripe Checkout Session id (cs_...).")
    url = serializers.URLField(help_text="Where to send the user to pay.")


class PortalQuery(QueryInput):
    return_url = serializers.URLField(
        max_length=2048,
        required=False,
        help_text=f"Where the portal's back link leads. {REDIRECT_HELP} "
        "Omitted: the portal's default.",
    )


class PortalOutput(serializers.Serializer):
    url = serializers.URLField(help_text="Stripe Customer Portal session URL.")


class CancelQuery(QueryInput):
    immediate = serializers.BooleanField(
        default=False,
        help_text="true: end the subscription now. false: end it at the current period's end.",
    )


class CancelOutput(serializers.Serializer):
    message = serializers.CharField()
    cancel_at_period_end = serializers.BooleanField(
        help_text="Renewal is off: the plan ends at `current_period_end`."
    )
    current_period_end = serializers.DateTimeField(
        allow_null=True, help_text="End of the paid period."
    )


class ResumeOutput(serializers.Serializer):
    message = serializers.CharField()
    status = serializers.CharField(help_text=f"Status of the subscription ({STATUSES}).")
    plan = serializers.CharField(help_text=f"The plan it grants ({PLANS}).")
