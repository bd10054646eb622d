"""Input and output shapes of /billing."""

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
