"""The webhook ledger: every verified event a provider delivered, kept once, with its processing."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from config.models import BaseModel

EVENT_ID_MAX_LENGTH = 255
EVENT_TYPE_MAX_LENGTH = 255
PROVIDER_MAX_LENGTH = 32


class WebhookEvent(BaseModel):
    """One delivered event, unique per (provider, provider event id).

    Lifecycle: `received` (stored, waiting for a worker; also between retries, with
    `next_retry_at` set) → `processing` (claimed by a worker; a row that stays here was
    interrupted) → `processed` (the handler succeeded), `ignored` (no handler is registered for
    its type) or `failed` (the handler kept failing; staff can process it again). Processed and
    ignored rows older than WEBHOOK_RETENTION_DAYS are purged weekly; failed ones are kept.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSING = "processing", "Processing"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"
        IGNORED = "ignored", "Ignored"

    provider = models.CharField(max_length=PROVIDER_MAX_LENGTH)
    event_id = models.CharField(
        max_length=EVENT_ID_MAX_LENGTH, help_text="The provider's own id of the event."
    )
    event_type = models.CharField(max_length=EVENT_TYPE_MAX_LENGTH)
    payload = models.JSONField(help_text="The parsed body.")
    raw_body = models.TextField(help_text="The body exactly as received, for audit and replay.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(
        default=0, help_text="How many times processing started (replays included)."
    )
    last_error = models.TextField(
        blank=True, default="", help_text="The error of the latest failed attempt."
    )
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    next_retry_at = models.DateTimeField(
        null=True, blank=True, help_text="When the next attempt is due, while retries are pending."
    )

    class Meta:
        db_table = "webhook_events"
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "event_id"], name="webhook_events_provider_event_uniq"
            ),
        ]
        indexes = [
            # The stale-event sweep (and the admin's status filter, by its first column).
            models.Index(fields=["status", "next_retry_at"], name="webhook_events_retry_idx"),
            # The admin's type filter and event id search (its provider filter uses the unique
            # constraint's index, whose first column is the provider).
            models.Index(fields=["event_type"], name="webhook_events_type_idx"),
            models.Index(fields=["event_id"], name="webhook_events_event_id_idx"),
            models.Index(fields=["-received_at"], name="webhook_events_received_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_type} {self.event_id}"
