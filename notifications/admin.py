"""The email outbox in the staff console: every email sent or being sent; failed ones can be
queued again."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from config.admin import NoEditAdmin
from notifications.models import EmailMessage
from notifications.services import emails_retry


@admin.register(EmailMessage)
class EmailMessageAdmin(NoEditAdmin):
    """The outbox: every email sent or being sent; failed ones can be queued again."""

    list_display = ("to", "template", "subject", "status", "attempts", "sent_at", "created_at")
    list_filter = ("status", "template")
    search_fields = ("to", "subject", "provider_message_id", "user__id")
    ordering = ("-created_at",)
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    fields = (
        "id",
        "user",
        "to",
        "template",
        "subject",
        "status",
        "attempts",
        "error",
        "provider_message_id",
        "sent_at",
        "created_at",
        "updated_at",
        "context",
        "text_body",
        "html_body",
    )
    readonly_fields = fields
    actions = ("retry_emails",)

    @admin.action(description="Retry selected failed emails", permissions=["view"])
    def retry_emails(self, request: HttpRequest, queryset: QuerySet[EmailMessage]) -> None:
        queued = emails_retry(messages=queryset)
        skipped = queryset.count() - queued
        self.message_user(request, f"{queued} email(s) queued again.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped} email(s) were not failed and were left as is.", messages.INFO
            )
