"""Input and output shapes of /billing and /usage."""

from __future__ import annotations

from rest_framework import serializers

from billing.models import Entitlement

PLANS = ", ".join(Entitlement.Plan.values)
STATUSES = ", ".join(Entitlement.Status.values)
SOURCES = ", ".join(Entitlement.Source.values)


class BillingStatusOutput(serializers.Serializer):
    plan = serializers.CharField(help_text=f"The plan in effect: {PLANS}.")
    status = serializers.CharField(
        help_text=f"Status of the entitlement in effect ({STATUSES}), or `none` on free."
    )
    # DRF's metaclass moves declared fields off the class, so this does not shadow
    # Field.source at run time; only the type checker sees a clash.
    source = serializers.CharField(  # type: ignore[assignment]
        allow_null=True, help_text=f"Where the plan comes from ({SOURCES}); null on free."
    )
    current_period_end = serializers.DateTimeField(
        allow_null=True, help_text="When the plan ends unless renewed; null when it has no end."
    )
    cancel_at_period_end = serializers.BooleanField(
        help_text="Renewal is off: the plan ends at `current_period_end`."
    )
    has_active_subscription = serializers.BooleanField(
        help_text="A paid plan (pro, enterprise) is in effect, from any source."
    )


class PlanLimitsOutput(serializers.Serializer):
    ai_tokens_per_month = serializers.IntegerField(help_text="AI tokens per calendar month.")
    storage_bytes = serializers.IntegerField(help_text="Bytes of file storage.")
    rate_limit = serializers.CharField(help_text="API requests allowed, e.g. 300/minute.")


class PlanOfferOutput(serializers.Serializer):
    id = serializers.CharField(help_text="Offer id, e.g. pro_monthly.")
    plan = serializers.CharField(help_text="The plan bought: pro or enterprise.")
    name = serializers.CharField(help_text="Display name of the plan.")
    interval = serializers.CharField(
        help_text="Billing interval: month or year (checkout's `plan` monthly or yearly)."
    )
    amount = serializers.IntegerField(
        help_text="Price per interval in the currency's smallest unit (cents)."
    )
    currency = serializers.CharField(help_text="ISO 4217 code, lowercase, e.g. usd.")
    limits = PlanLimitsOutput()


# --- Usage ---------------------------------------------------------------------------------------


class UsageSummaryQuery(serializers.Serializer):
    days = serializers.IntegerField(
        min_value=1,
        max_value=365,
        default=30,
        help_text="Length of the period in days (UTC), today included: 1 is today only.",
    )


class UsageMetricsOutput(serializers.Serializer):
    api_requests = serializers.IntegerField(
        help_text="Authenticated requests to /api/v1/app/ in the period."
    )
    ai_requests = serializers.IntegerField(help_text="AI completions requested in the period.")
    ai_tokens = serializers.IntegerField(
        help_text="AI tokens (prompt and completion) used in the period."
    )
    file_uploads = serializers.IntegerField(help_text="Uploads confirmed in the period.")
    file_downloads = serializers.IntegerField(help_text="Download links issued in the period.")
    emails_sent = serializers.IntegerField(help_text="Emails sent to the user in the period.")
    storage_bytes = serializers.IntegerField(
        help_text="Bytes the user's uploaded files take up now (not a sum over the period)."
    )


class UsageLimitsOutput(PlanLimitsOutput):
    plan = serializers.CharField(help_text=f"The plan the limits come from: {PLANS}.")


class UsageSummaryOutput(serializers.Serializer):
    period_start = serializers.DateTimeField(
        help_text="Start (00:00 UTC) of the first day of the period."
    )
    period_end = serializers.DateTimeField(help_text="Now: the end of the period.")
    metrics = UsageMetricsOutput(
        help_text="Usage in the period, counted up to the moment of the request."
    )
    limits = UsageLimitsOutput(help_text="The limits of the user's current plan.")


# --- Stripe ----------------------------------------------------------------------------------

REDIRECT_HELP = (
    "Absolute URL on one of the app's allowed origins (CORS_ALLOWED_ORIGINS or "
    "BILLING_REDIRECT_ORIGINS); any other origin is refused with 422."
)


class InvoiceListQuery(serializers.Serializer):
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


class CheckoutInput(serializers.Serializer):
    plan = serializers.ChoiceField(
        choices=["monthly", "yearly"], help_text="Billing interval of the pro plan."
    )
    success_url = serializers.URLField(max_length=2048, help_text=REDIRECT_HELP)
    cancel_url = serializers.URLField(max_length=2048, help_text=REDIRECT_HELP)


class CheckoutOutput(serializers.Serializer):
    session_id = serializers.CharField(help_text="Stripe Checkout Session id (cs_...).")
    url = serializers.URLField(help_text="Where to send the user to pay.")


class PortalQuery(serializers.Serializer):
    return_url = serializers.URLField(
        max_length=2048,
        required=False,
        help_text=f"Where the portal's back link leads. {REDIRECT_HELP} "
        "Omitted: the portal's default.",
    )


class PortalOutput(serializers.Serializer):
    url = serializers.URLField(help_text="Stripe Customer Portal session URL.")


class CancelQuery(serializers.Serializer):
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
