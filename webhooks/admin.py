"""The staff console for the webhook ledger: browse, inspect, process again. Nothing is edited.

Staff see the stored payload (only the fields the provider's allowlist keeps) and never the raw
body, which holds whatever the provider sent (Supabase's password hash and tokens included) until
processing is over: its size is shown, not its content."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from config.admin import ReadOnlyAdmin
from webhooks.models import WebhookEvent
from webhooks.services import webhook_replay


# The ledger is a record of what providers sent: no one adds, edits or deletes events.
@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
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
    # Exact match on the id a provider's dashboard shows, or on whom the event is about (a user,
    # customer, purchase), each served by an index.
    search_fields = ("event_id__exact", "subject__exact")
    search_help_text = (
        "Search by the provider's event id or the event's subject (user, customer or purchase "
        "id), exactly."
    )
    ordering = ("-received_at",)
    actions = ("process_again",)
    fieldsets = (
        (None, {"fields": ("id", "provider", "event_id", "event_type", "subject", "status")}),
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
        ("Payload", {"fields": ("payload_pretty", "raw_body_kept")}),
    )
    readonly_fields = tuple(flatten_fieldsets(fieldsets))

    @admin.display(description="payload")
    def payload_pretty(self, event: WebhookEvent) -> SafeString:
        pretty = json.dumps(event.payload, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', pretty)

    @admin.display(description="raw body")
    def raw_body_kept(self, event: WebhookEvent) -> str:
        if not event.raw_body:
            return "Not kept (emptied once processing is over)."
        return f"{len(event.raw_body.encode())} bytes, kept until processing is over (not shown)."

    @admin.action(description="Process again", permissions=("replay",))
    def process_again(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        count = webhook_replay(events=queryset)
        self.message_user(request, f"{count} event(s) will be processed again.", messages.SUCCESS)

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("webhooks.change_webhookevent")
