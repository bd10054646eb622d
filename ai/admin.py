"""The staff console for AI usage: every call, and each user's totals for the current month."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from ai.models import AIUsage, AIUserUsage
from ai.selectors import ai_user_totals, month_start
from config.admin import ReadOnlyAdmin


@admin.register(AIUsage)
class AIUsageAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "user",
        "endpoint",
        "provider",
        "model",
        "streamed",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "cost_estimate",
        "latency_ms",
        "success",
        "error_code",
    )
    list_filter = ("provider", "model", "success", "endpoint", "streamed", "error_code")
    date_hierarchy = "created_at"
    search_fields = ("user__email", "=user__id")
    search_help_text = "A user's email (or part of it) or exact id."
    list_select_related = ("user",)
    ordering = ("-created_at", "-id")
    show_full_result_count = False


@admin.register(AIUserUsage)
class AIUserUsageAdmin(ReadOnlyAdmin):
    """Users with AI calls this calendar month (UTC, the quota's period), biggest first."""

    list_display = (
        "email",
        "id",
        "subscription_plan",
        "requests_this_month",
        "failures_this_month",
        "tokens_this_month",
        "allowance",
        "allowance_used",
        "cost_this_month",
        "calls",
    )
    list_display_links = None
    list_filter = ("subscription_plan",)
    search_fields = ("email", "=id")
    search_help_text = "A user's email (or part of it) or exact id."
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[AIUserUsage]:
        return ai_user_totals(since=month_start())

    def get_ordering(self, request: HttpRequest) -> list[str]:
        return ["-ai_tokens", "id"]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        title = f"AI usage by user since {month_start():%Y-%m-%d} (UTC)"
        return super().changelist_view(request, {"title": title, **(extra_context or {})})

    @admin.display(description="requests", ordering="ai_requests")
    def requests_this_month(self, obj: Any) -> int:
        return int(obj.ai_requests)

    @admin.display(description="failures", ordering="ai_failures")
    def failures_this_month(self, obj: Any) -> int:
        return int(obj.ai_failures)

    @admin.display(description="tokens", ordering="ai_tokens")
    def tokens_this_month(self, obj: Any) -> int:
        return int(obj.ai_tokens or 0)

    @admin.display(description="allowance")
    def allowance(self, obj: AIUserUsage) -> int | None:
        plan = settings.BILLING_PLANS.get(obj.subscription_plan)
        return int(plan["ai_tokens_per_month"]) if plan else None

    @admin.display(description="% used")
    def allowance_used(self, obj: Any) -> str:
        allowed = self.allowance(obj)
        if not allowed:
            return "-"
        return f"{100 * int(obj.ai_tokens or 0) / allowed:.1f}%"

    @admin.display(description="cost (USD)", ordering="ai_cost")
    def cost_this_month(self, obj: Any) -> Decimal:
        return Decimal(obj.ai_cost or 0).quantize(Decimal("0.0001"))

    @admin.display(description="calls")
    def calls(self, obj: AIUserUsage) -> str:
        url = reverse("admin:ai_aiusage_changelist") + "?" + urlencode({"q": obj.pk})
        return format_html('<a href="{}">view calls</a>', url)
