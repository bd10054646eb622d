"""The email outbox in the staff console: every email sent or being sent, with what the provider
reported about its delivery; failed ones can be queued again. And the suppression list: the
addresses no email is sent to, which staff clear when an address works again."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from config.admin import NoEditAdmin
from notifications.models import EmailMessage, EmailSuppression
from notifications.services import email_suppressions_clear, emails_retry


@admin.register(EmailMessage)
class EmailMessageAdmin(NoEditAdmin):
    """The outbox: every email sent or being sent; failed ones can be queued again."""

    list_display = (
        "to",
        "template",
        "subject",
        "status",
        "delivery_status",
        "attempts",
        "sent_at",
        "created_at",
    )
    list_filter = ("status", "delivery_status", "template")
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
        "delivery_status",
        "delivery_detail",
        "delivery_updated_at",
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


@admin.register(EmailSuppression)
class EmailSuppressionAdmin(NoEditAdmin):
    """Addresses that bounced permanently or complained: no email is sent to them. Deleting an
    entry (or "Allow sending again") lets new emails through; the emails recorded `suppressed`
    meanwhile stay as they are."""

    list_display = ("address", "reason", "provider", "suppressed_at", "detail")
    list_filter = ("reason", "provider")
    search_fields = ("address",)
    ordering = ("-suppressed_at",)
    date_hierarchy = "suppressed_at"
    fields = (
        "address",
        "reason",
        "provider",
        "detail",
        "suppressed_at",
        "email",
        "webhook_event",
        "created_at",
    )
    readonly_fields = fields
    actions = ("allow_sending_again",)

    @admin.action(description="Allow sending again", permissions=["delete"])
    def allow_sending_again(
        self, request: HttpRequest, queryset: QuerySet[EmailSuppression]
    ) -> None:
        cleared = email_suppressions_clear(suppressions=queryset)
        self.message_user(
            request, f"Sending allowed again to {cleared} address(es).", messages.SUCCESS
        )
