"""The staff console for the webhook ledger: browse, inspect, process again. Nothing is edited."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from webhooks.models import WebhookEvent
from webhooks.services import webhook_replay


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = (
        "event_id",
        "provider",
        "event_type",
        "status",
        "attempts",
        "received_at",
        "processed_at",
    )
    list_filter = ("provider", "status", "event_type")
    # Exact match on the id a provider's dashboard shows (served by an index).
    search_fields = ("event_id__exact",)
    search_help_text = "Search by the provider's event id (exact)."
    ordering = ("-received_at",)
    actions = ("process_again",)
    fieldsets = (
        (None, {"fields": ("id", "provider", "event_id", "event_type", "status")}),
        (
            "Processing",
            {
                "fields": (
                    "attempts",
                    "last_error",
                    "received_at",
                    "processed_at",
                    "next_retry_at",
                    "updated_at",
                )
            },
        ),
        ("Payload", {"fields": ("payload_pretty",)}),
        ("Raw body", {"fields": ("raw_body",), "classes": ("collapse",)}),
    )
    readonly_fields = (
        "id",
        "provider",
        "event_id",
        "event_type",
        "status",
        "attempts",
        "last_error",
        "received_at",
        "processed_at",
        "next_retry_at",
        "updated_at",
        "payload_pretty",
        "raw_body",
    )

    @admin.display(description="payload")
    def payload_pretty(self, event: WebhookEvent) -> SafeString:
        pretty = json.dumps(event.payload, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', pretty)

    @admin.action(description="Process again", permissions=("replay",))
    def process_again(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        count = webhook_replay(events=queryset)
        self.message_user(request, f"{count} event(s) will be processed again.", messages.SUCCESS)

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("webhooks.change_webhookevent")

    # The ledger is a record of what providers sent: no one adds, edits or deletes events.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: WebhookEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: WebhookEvent | None = None) -> bool:
        return False
