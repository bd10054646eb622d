"""The email outbox: one row per transactional email, sent by a Celery task."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from config.models import BaseModel


class EmailMessage(BaseModel):
    """One email in the outbox: rendered when queued, sent by a Celery task, kept as a record.

    `queued` (waiting for the task, also between retries) → `sent` (the provider accepted it;
    `provider_message_id` when the provider gives one) or `failed` (every attempt failed; staff
    can queue it again from the admin).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

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

    class Meta:
        db_table = "email_messages"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="email_messages_status_idx"),
            models.Index(fields=["user", "template"], name="email_messages_user_tpl_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.template} to {self.to} ({self.status})"
