"""The email outbox (one row per transactional email, sent by a Celery task), what the provider
reported about its delivery, and the addresses no email is sent to any more."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from config.models import BaseModel


class EmailMessage(BaseModel):
    """One email in the outbox: rendered when queued, sent by a Celery task, kept as a record.

    `status` is what this side did: `queued` (waiting for the task, also between retries) →
    `sent` (the provider accepted it; `provider_message_id` when the provider gives one) or
    `failed` (every attempt failed; staff can queue it again from the admin); `suppressed`: never
    sent, because the address is on the suppression list (`error` says why).

    `delivery_status` is what the provider reported afterwards through its tracking webhook
    (`notifications.events`), empty until it reports: `deferred` (delayed, still trying),
    `soft_bounced` (a temporary failure: the address stays usable), `delivered`, `rejected` (the
    provider refused to send it), `bounced` (a permanent failure) or `complained` (marked as spam).
    A later report never replaces a more final one (a late `deferred` after `delivered`).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SUPPRESSED = "suppressed", "Suppressed"

    class DeliveryStatus(models.TextChoices):
        UNKNOWN = "", "Not reported"
        DEFERRED = "deferred", "Deferred"
        SOFT_BOUNCED = "soft_bounced", "Soft bounce"
        DELIVERED = "delivered", "Delivered"
        REJECTED = "rejected", "Rejected by the provider"
        BOUNCED = "bounced", "Bounced"
        COMPLAINED = "complained", "Spam complaint"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="email_messages",
        help_text="The user the email concerns; empty for staff reports.",
    )
    to = models.EmailField(max_length=320)
    template = models.CharField(max_length=64)
    subject = models.CharField(max_length=998)
    context = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    text_body = models.TextField()
    html_body = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    provider_message_id = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True, help_text="The error of the latest failed attempt.")
    attempts = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivery_status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, blank=True, default=DeliveryStatus.UNKNOWN
    )
    delivery_detail = models.TextField(
        blank=True, help_text="The provider's description of its latest report (a bounce's reason)."
    )
    delivery_updated_at = models.DateTimeField(
        null=True, blank=True, help_text="When the provider says its latest report happened."
    )

    class Meta:
        db_table = "email_messages"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="email_messages_status_idx"),
            models.Index(fields=["user", "template"], name="email_messages_user_tpl_idx"),
            # Tracking events find their email by the provider's message id.
            models.Index(
                fields=["provider_message_id"],
                name="email_messages_provider_id_idx",
                condition=~models.Q(provider_message_id=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template} to {self.to} ({self.status})"


class EmailSuppression(BaseModel):
    """An address no email is sent to: it bounced permanently or its owner marked an email as
    spam (reported by the provider's tracking webhook). `email_send` records the emails to it as
    `suppressed` without sending them. Staff remove an entry (delete, or "Allow sending again")
    when the address works again."""

    class Reason(models.TextChoices):
        BOUNCED = "bounced", "Hard bounce"
        COMPLAINED = "complained", "Spam complaint"

    address = models.CharField(
        max_length=320, unique=True, help_text="The address, normalised (trimmed, lower case)."
    )
    reason = models.CharField(max_length=16, choices=Reason.choices)
    provider = models.CharField(max_length=32, blank=True, help_text="Who reported it.")
    detail = models.TextField(blank=True, help_text="The provider's description of the event.")
    suppressed_at = models.DateTimeField(help_text="When the provider says it happened.")
    email = models.ForeignKey(
        EmailMessage,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The email that bounced or was complained about, while the outbox keeps it.",
    )
    webhook_event = models.ForeignKey(
        "webhooks.WebhookEvent",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The provider's event, while the webhook ledger keeps it.",
    )

    class Meta:
        db_table = "email_suppressions"
        ordering = ["-suppressed_at"]

    def __str__(self) -> str:
        return f"{self.address} ({self.reason})"
