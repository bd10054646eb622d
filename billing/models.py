"""Entitlements: what a user is entitled to, and from which source.

One row per purchase as its source knows it: a Stripe subscription, an App Store subscription
(its original transaction id), a Google Play subscription (its purchase token), or a grant made
by staff. The user's effective plan is derived from these rows (`billing.selectors`) and copied to
`User.subscription_plan`/`subscription_status` by `billing.services.user_sync_subscription`.

Usage: `UsageCounter` holds each user's daily count per metric, added by the flush of the cache
counters (`billing.usage`), which records each batch it added in `UsageFlushBatch`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from config.models import BaseModel


class Entitlement(BaseModel):
    """A user's right to a plan, as one source reports it.

    `(source, external_id)` is unique: a source's purchase maps to exactly one row, whoever
    reports it again (a webhook, a client, a reconciliation job) updates that row.
    """

    class Source(models.TextChoices):
        STRIPE = "stripe", "Stripe"
        APPLE = "apple", "Apple App Store"
        GOOGLE = "google", "Google Play"
        MANUAL = "manual", "Manual grant"

    class Plan(models.TextChoices):
        FREE = "free", "Free"
        PRO = "pro", "Pro"
        ENTERPRISE = "enterprise", "Enterprise"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        TRIALING = "trialing", "Trialing"
        PAST_DUE = "past_due", "Past due"
        GRACE = "grace", "Grace period"
        CANCELED = "canceled", "Canceled"
        EXPIRED = "expired", "Expired"

    # Statuses that grant the plan: paying, trying, or a payment being retried by the source
    # (Stripe's dunning, the stores' billing grace period). Canceled and expired grant nothing.
    ENTITLED_STATUSES = (Status.ACTIVE, Status.TRIALING, Status.PAST_DUE, Status.GRACE)

    # The (user, status) index below starts with the user, so the FK needs no index of its own.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="entitlements",
        db_index=False,
    )
    source = models.CharField(max_length=16, choices=Source.choices)
    external_id = models.CharField(
        max_length=512,
        help_text=(
            "The source's id of the purchase: Stripe subscription id, Apple original transaction "
            "id, Google purchase token; generated for manual grants."
        ),
    )
    product_id = models.CharField(
        max_length=255,
        blank=True,
        help_text="The source's product or price id (empty for manual grants).",
    )
    plan = models.CharField(max_length=16, choices=Plan.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    current_period_end = models.DateTimeField(
        null=True,
        blank=True,
        help_text=(
            "When access ends unless renewed (for `grace`, the end of the grace period). "
            "Empty: no end (a manual grant without a limit)."
        ),
    )
    cancel_at_period_end = models.BooleanField(
        default=False, help_text="Renewal is off: the entitlement ends at the period end."
    )
    source_updated_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Time of the source's event this row reflects; older events are ignored.",
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The staff member who granted a manual entitlement.",
    )
    note = models.TextField(blank=True)

    class Meta:
        db_table = "entitlements"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="entitlements_source_external_id_uniq"
            ),
        ]
        indexes = [
            models.Index(fields=["user", "status"], name="entitlements_user_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_plan_display()} via {self.get_source_display()} ({self.status})"


class UsageCounter(models.Model):
    """How much of one metric a user used on one day (UTC), as flushed from the cache counters.

    `billing.usage` counts in the cache and its flush adds the counts here, so a row's `value`
    only grows; the counts not flushed yet are still in the cache.
    """

    # The unique (user, metric, day) index starts with the user, so the FK needs no index.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="usage_counters",
        db_index=False,
    )
    metric = models.CharField(max_length=32)
    day = models.DateField(help_text="The day (UTC) the usage happened.")
    value = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(
        default=timezone.now, help_text="When a flush last added to this row."
    )

    class Meta:
        db_table = "usage_counters"
        ordering = ["-day", "metric"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "metric", "day"], name="usage_counters_user_metric_day_uniq"
            ),
        ]
        indexes = [models.Index(fields=["day", "metric"], name="usage_counters_day_metric_idx")]

    def __str__(self) -> str:
        return f"{self.metric} on {self.day}: {self.value}"


class UsageFlushBatch(models.Model):
    """One batch of cache counters that a flush added to `UsageCounter`.

    Written in the same transaction as the counts, so a batch that is read again (a flush that
    stopped after its commit but before removing the batch from the cache) is never added twice.
    Rows are removed once no cache key can still hold their batch.
    """

    key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "usage_flush_batches"

    def __str__(self) -> str:
        return self.key
