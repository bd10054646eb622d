"""Input and output shapes of /usage."""

from __future__ import annotations

from rest_framework import serializers

from config.serializers import QueryInput


class UsageSummaryQuery(QueryInput):
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
    websocket_messages = serializers.IntegerField(
        help_text="WebSocket frames the user's sockets sent and received in the period."
    )
    storage_bytes = serializers.IntegerField(
        help_text="Bytes the user's uploaded files take up now (not a sum over the period)."
    )


class UsageLimitsOutput(serializers.Serializer):
    ai_tokens_per_month = serializers.IntegerField(help_text="AI tokens per calendar month.")
    storage_bytes = serializers.IntegerField(help_text="Bytes of file storage.")
    rate_limit = serializers.CharField(help_text="API requests allowed, e.g. 300/minute.")
    plan = serializers.CharField(
        help_text="The plan the limits come from: free, pro or enterprise (GET /billing/plans)."
    )


class UsageSummaryOutput(serializers.Serializer):
    period_start = serializers.DateTimeField(
        help_text="Start (00:00 UTC) of the first day of the period."
    )
    period_end = serializers.DateTimeField(help_text="Now: the end of the period.")
    metrics = UsageMetricsOutput(
        help_text="Usage in the period, counted up to the moment of the request."
    )
    limits = UsageLimitsOutput(help_text="The limits of the user's current plan.")
