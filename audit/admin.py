"""The audit log in the staff console (read only)."""

from __future__ import annotations

from django.contrib import admin

from audit.models import AuditEvent
from config.admin import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Every recorded action, newest first; nothing here can be changed or deleted."""

    list_display = ("created_at", "action", "actor", "actor_type", "target_type", "target_id")
    list_filter = ("actor_type", "action")
    search_fields = ("action", "target_id", "actor__email", "actor__id", "request_id")
    list_select_related = ("actor",)
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    fields = (
        "created_at",
        "action",
        "actor",
        "actor_type",
        "impersonator",
        "target_type",
        "target_id",
        "changes",
        "ip",
        "user_agent",
        "request_id",
    )
    readonly_fields = fields
