"""The webhook ledger: every verified event a provider delivered, kept once, with its processing."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from config.models import BaseModel

EVENT_ID_MAX_LENGTH = 255
EVENT_TYPE_MAX_LENGTH = 255
PROVIDER_MAX_LENGTH = 32
# Long enough for the longest subject kept: a Google Play purchase token (512).
SUBJECT_MAX_LENGTH = 512


class WebhookEvent(BaseModel):
    """One delivered event, unique per (provider, provider event id).

    Lifecycle: `received` (stored, waiting for a worker; also between retries, with
    `next_retry_at` set) → `processing` (claimed by a worker; a row that stays here was
    interrupted) → `processed` (the handler succeeded), `ignored` (no handler is registered for
    its type) or `failed` (the handler kept failing; staff can process it again). Processed and
    ignored rows older than WEBHOOK_RETENTION_DAYS are purged weekly, failed ones older than
    WEBHOOK_FAILED_RETENTION_DAYS.

    What is kept: `payload` holds only the fields the provider's allowlist names
    (`webhooks.payloads`); `raw_body` holds the delivery as received only until processing is
    over (it may carry anything the provider sent, secrets included) and is emptied when the
    event ends processed, ignored or failed. `subject` says whom the event is about, so that the
    events of an erased user are scrubbed of personal data (`webhook_events_scrub`).
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
    subject = models.CharField(
        max_length=SUBJECT_MAX_LENGTH,
        blank=True,
        default="",
        help_text=(
            "Whom the event is about, in the provider's terms: a user id (Clerk, Supabase), a "
            "customer id (Stripe), an original transaction id (Apple), a purchase token (Google)."
        ),
    )
    payload = models.JSONField(
        help_text="The fields of the body that handlers read (the provider's allowlist)."
    )
    raw_body = models.TextField(
        blank=True,
        help_text="The body exactly as received, kept only until processing is over.",
    )
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
            # The erasure's scrub, and the identity handlers' "was this user deleted" question.
            models.Index(fields=["provider", "subject"], name="webhook_events_subject_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_type} {self.event_id}"
