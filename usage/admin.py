"""Usage counters in the staff console (read only)."""

from __future__ import annotations

from django.contrib import admin

from config.admin import ReadOnlyAdmin
from usage.models import UsageCounter


@admin.register(UsageCounter)
class UsageCounterAdmin(ReadOnlyAdmin):
    """Daily usage per user and metric, as flushed from the cache; read-only."""

    list_display = ("user", "metric", "day", "value", "updated_at")
    list_filter = ("metric", "day")
    search_fields = ("user__email", "user__id")
    list_select_related = ("user",)
    date_hierarchy = "day"
    ordering = ("-day", "metric")
    fields = ("user", "metric", "day", "value", "updated_at")
    readonly_fields = fields
