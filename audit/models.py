"""The audit log: who did what, to what, from where, and as whom. Rows are only ever added."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    """One sensitive action, recorded by the service that did it (`audit.services.audit_record`).

    Append-only: the admin shows rows but cannot change or delete them, and `save` refuses to
    update a stored row. The only later writes are `audit.services`' scrubbing of an erased
    person's data and the retention's deletion of old rows (AUDIT_RETENTION_DAYS).
    """

    class ActorType(models.TextChoices):
        STAFF = "staff", "Staff"
        USER = "user", "User"
        SYSTEM = "system", "System"
        PROVIDER = "provider", "Provider"

    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who acted; empty for the system and for providers.",
    )
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_label = models.CharField(
        max_length=320,
        blank=True,
        help_text=(
            "Who acted, readable after the account is gone: a staff member's or user's email, a "
            "provider's name; `erased user` once the person's data was erased."
        ),
    )
    impersonator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The staff member acting as `actor`, when impersonating.",
    )
    impersonator_label = models.CharField(
        max_length=320, blank=True, help_text="The impersonator's email, kept like `actor_label`."
    )
    action = models.CharField(max_length=64, help_text="What happened, e.g. entitlement.grant.")
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=255, blank=True)
    changes = models.JSONField(
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="Changed fields as {field: [before, after]}, secrets masked.",
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=128, blank=True)

    class Meta:
        db_table = "audit_events"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id"], name="audit_events_target_idx"),
            models.Index(fields=["action", "-created_at"], name="audit_events_action_idx"),
        ]

    def __str__(self) -> str:
        target = f" {self.target_type}:{self.target_id}" if self.target_type else ""
        return f"{self.action}{target}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("Audit events are append-only")
        super().save(*args, **kwargs)
