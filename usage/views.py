"""GET /usage/summary."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import validated
from config.openapi import error_responses
from usage.selectors import usage_summary
from usage.serializers import UsageSummaryOutput, UsageSummaryQuery


class UsageSummaryView(APIView):
    @extend_schema(
        tags=["usage"],
        operation_id="usage_summary_retrieve",
        parameters=[UsageSummaryQuery],
        responses={
            200: UsageSummaryOutput,
            **error_responses({422: "VALIDATION_ERROR: `days` is not an integer 1..365."}),
        },
        summary="Get my usage",
        description=(
            "What I used from the start (00:00 UTC) of the day `days - 1` days ago until now: "
            "API requests, AI requests and tokens, file uploads and downloads, emails, each "
            "counted up to this moment, and the bytes my files take up now; with the limits "
            "of my plan."
        ),
    )
    def get(self, request: Request) -> Response:
        params = validated(UsageSummaryQuery, request.query_params)
        summary = usage_summary(user=request.user, days=params["days"])
        return Response(UsageSummaryOutput(summary).data)
