"""Entitlements: what a user is entitled to, and from which source.

One row per purchase as its source knows it: a Stripe subscription, an App Store subscription
(its original transaction id), a Google Play subscription (its purchase token), or a grant made
by staff. The user's effective plan is derived from these rows (`billing.selectors`) and copied to
`User.subscription_plan`/`subscription_status` by `billing.services.user_sync_subscription`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

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
